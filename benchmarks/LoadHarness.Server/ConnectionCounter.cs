// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace LoadHarness.Server;

/// <summary>Open connections of the SignalR mode (the other modes count their own).</summary>
internal sealed class ConnectionCounter
{
    private int _count;

    public int Count => Volatile.Read(ref _count);

    public void Increment() => Interlocked.Increment(ref _count);

    public void Decrement() => Interlocked.Decrement(ref _count);
}

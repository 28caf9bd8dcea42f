// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Benchmarks;

/// <summary>Counts bytes written by several <see cref="SinkStream"/>s and signals when a target is reached.</summary>
internal sealed class WriteCounter : IDisposable
{
    private readonly ManualResetEventSlim _reached = new(false);
    private long _written;
    private long _target = long.MaxValue;

    public long Written => Interlocked.Read(ref _written);

    public void Add(int bytes)
    {
        if (Interlocked.Add(ref _written, bytes) >= Interlocked.Read(ref _target))
        {
            _reached.Set();
        }
    }

    /// <summary>Arms the signal for <paramref name="moreBytes"/> beyond what has been written so far.</summary>
    public void Expect(long moreBytes)
    {
        _reached.Reset();
        Interlocked.Exchange(ref _target, Written + moreBytes);
        if (Written >= Interlocked.Read(ref _target))
        {
            _reached.Set();
        }
    }

    public bool Wait(TimeSpan timeout) => _reached.Wait(timeout);

    public void Dispose() => _reached.Dispose();
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace LoadHarness.Client;

/// <summary>
/// One open benchmark connection as the scenarios see it, whichever client implementation speaks on the wire
/// (<see cref="LightWebSocket"/> by default, <see cref="ClientWebSocketConnection"/> with <c>--client clientwebsocket</c>).
/// One send at a time and one receive at a time; a send may run while a receive waits.
/// </summary>
internal abstract class BenchSocket
{
    public abstract bool IsOpen { get; }

    /// <summary>Sends one complete text message.</summary>
    public abstract ValueTask SendAsync(TextMessage message, CancellationToken cancellationToken);

    /// <summary>Receives the next piece of a message into <paramref name="buffer"/>, or the peer's close.</summary>
    public abstract ValueTask<BenchReceive> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken);

    /// <summary>Closes with the closing handshake, bounded in time; aborts when the peer does not answer. Disposes the socket.</summary>
    public abstract Task CloseAsync(TimeSpan timeout);

    public abstract void Abort();
}

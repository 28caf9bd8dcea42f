// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;

namespace LoadHarness.Client;

/// <summary>A benchmark connection over <see cref="ClientWebSocket"/> (<c>--client clientwebsocket</c>), the client the harness first used.</summary>
internal sealed class ClientWebSocketConnection(ClientWebSocket socket) : BenchSocket
{
    public override bool IsOpen => socket.State == WebSocketState.Open;

    public override async ValueTask SendAsync(TextMessage message, CancellationToken cancellationToken)
    {
        try
        {
            await socket.SendAsync(message.Payload, WebSocketMessageType.Text, true, cancellationToken).ConfigureAwait(false);
        }
        catch (WebSocketException ex)
        {
            throw new IOException(ex.Message, ex);
        }
    }

    public override async ValueTask<BenchReceive> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        try
        {
            var result = await socket.ReceiveAsync(buffer, cancellationToken).ConfigureAwait(false);
            return result.MessageType == WebSocketMessageType.Close
                ? new BenchReceive(0, false, Closed: true)
                : new BenchReceive(result.Count, result.EndOfMessage, Closed: false);
        }
        catch (WebSocketException ex)
        {
            throw new IOException(ex.Message, ex);
        }
    }

    public override Task CloseAsync(TimeSpan timeout) => Wire.CloseAsync(socket, timeout);

    public override void Abort()
    {
        socket.Abort();
        socket.Dispose();
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using WebSocketPool;

namespace EchoServer;

/// <summary>Echoes every message back: text as text, binary as binary.</summary>
internal sealed class EchoHandler : WebSocketHandler
{
    public override ValueTask OnMessageAsync(WebSocketConnection connection, WebSocketMessage message, CancellationToken cancellationToken)
    {
        // The payload is lent only for this callback; the copy is what the send queue keeps.
        connection.Send(message.Payload.ToArray(), message.MessageType);
        return default;
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using WebSocketPool;

namespace EchoServer;

/// <summary>
/// Echoes every message back: text as text, binary as binary. A connection opened as <c>/ws?user=NAME&amp;group=GROUP</c>
/// also joins that group (demo only, for <see cref="DiagnosticSendEndpoints"/>): the join is done before the first
/// message is handled, so the echo of a connection's first message proves it is a member.
/// </summary>
internal sealed class EchoHandler(IHttpContextAccessor accessor, IWebSocketSender sender) : WebSocketHandler
{
    public override async ValueTask OnConnectedAsync(WebSocketConnection connection, CancellationToken cancellationToken)
    {
        if (accessor.HttpContext?.Request.Query["group"].ToString() is { Length: > 0 } group)
        {
            await sender.AddToGroupAsync(connection.ConnectionId, group, cancellationToken).ConfigureAwait(false);
        }
    }

    public override ValueTask OnMessageAsync(WebSocketConnection connection, WebSocketMessage message, CancellationToken cancellationToken)
    {
        // The payload is lent only for this callback; the copy is what the send queue keeps.
        connection.Send(message.Payload.ToArray(), message.MessageType);
        return default;
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Text;

namespace WebSocketPool.Redis.Tests.Infrastructure;

/// <summary>
/// A tiny chat protocol over the cluster-wide sender: <c>dm:USER:TEXT</c> sends <c>dm:FROM:TEXT</c> to every connection
/// of USER, <c>join:GROUP</c> joins a group, <c>id</c> answers with the connection id; anything else is echoed.
/// </summary>
public sealed class RelayHandler(IWebSocketSender sender) : WebSocketHandler
{
    public override async ValueTask OnMessageAsync(WebSocketConnection connection, WebSocketMessage message, CancellationToken cancellationToken)
    {
        var text = Encoding.UTF8.GetString(message.Payload.Span);
        if (text.StartsWith("dm:", StringComparison.Ordinal) && text.IndexOf(':', 3) is var colon and > 3)
        {
            await sender.SendTextToUserAsync(text[3..colon], $"dm:{connection.UserKey}:{text[(colon + 1)..]}", cancellationToken);
        }
        else if (text.StartsWith("join:", StringComparison.Ordinal))
        {
            await sender.AddToGroupAsync(connection.ConnectionId, text[5..], cancellationToken);
            connection.SendText("joined");
        }
        else if (text == "id")
        {
            connection.SendText("id:" + connection.ConnectionId);
        }
        else
        {
            connection.SendText(text);
        }
    }
}

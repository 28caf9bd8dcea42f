// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using System.Text.Json;
using ChatServer.Messages;
using WebSocketPool;

namespace ChatServer;

/// <summary>
/// The notifications pool at <c>/ws/notify</c> (2 connections per user, <c>WebSocketPool:Pools:notify</c>): a second
/// pool beside the chat, with its own limit and handler. On connect: <c>notice</c>. Pushed: <c>joined</c> when a user
/// opens their first chat connection (<see cref="ChatHandler"/> sends it through this pool's sender). On demand:
/// <c>{"type":"time"}</c> is answered with <c>time</c>; anything else with an <c>error</c>.
/// </summary>
internal sealed class NotifyHandler([FromKeyedServices(NotifyHandler.PoolName)] PooledWebSocketManagerFactory pool, TimeProvider timeProvider) : WebSocketHandler
{
    /// <summary>The pool's name: its configuration section, metrics tag, keyed sender and <c>/stats?pool=</c>.</summary>
    public const string PoolName = "notify";

    public override ValueTask OnConnectedAsync(WebSocketConnection connection, CancellationToken cancellationToken)
    {
        var notice = new NoticeMessage("Notifications are on.", pool.GetConnectionCount(connection.UserKey), pool.MaxConnectionsPerUser, timeProvider.GetUtcNow());
        connection.Send(JsonSerializer.SerializeToUtf8Bytes(notice, ChatJsonContext.Default.NoticeMessage), WebSocketMessageType.Text);
        return default;
    }

    public override ValueTask OnMessageAsync(WebSocketConnection connection, WebSocketMessage message, CancellationToken cancellationToken)
    {
        if (message.IsText && IsTimeRequest(message.Payload.Span))
        {
            var time = new TimeMessage(timeProvider.GetUtcNow());
            connection.Send(JsonSerializer.SerializeToUtf8Bytes(time, ChatJsonContext.Default.TimeMessage), WebSocketMessageType.Text);
            return default;
        }

        var error = new ErrorMessage("unknown_type", "Unknown message type: the notifications connection takes only {\"type\":\"time\"}.");
        connection.Send(JsonSerializer.SerializeToUtf8Bytes(error, ChatJsonContext.Default.ErrorMessage), WebSocketMessageType.Text);
        return default;
    }

    private static bool IsTimeRequest(ReadOnlySpan<byte> json)
    {
        try
        {
            return JsonSerializer.Deserialize(json, ChatJsonContext.Default.InboundMessage)?.Type == "time";
        }
        catch (JsonException)
        {
            return false;
        }
    }
}

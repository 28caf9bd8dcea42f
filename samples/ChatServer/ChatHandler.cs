// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics.CodeAnalysis;
using System.Net.WebSockets;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using ChatServer.Messages;
using Microsoft.Extensions.Options;
using WebSocketPool;

namespace ChatServer;

/// <summary>
/// The chat protocol. On connect: <c>hello</c>, then the connection joins the room (see <see cref="ChatPresence"/>).
/// <c>chat</c> goes to everyone; <c>dm</c> to all of the recipient's and the sender's connections (on every node of a
/// cluster: the sender routes groups across nodes). Anything wrong with a message is answered with an <c>error</c>
/// message; the connection stays open. A user's first connection is announced on the notifications pool
/// (<see cref="NotifyHandler"/>).
/// </summary>
internal sealed partial class ChatHandler(
    IWebSocketSender sender,
    [FromKeyedServices(NotifyHandler.PoolName)] IWebSocketSender notifications,
    IOptions<WebSocketPoolOptions> options,
    ChatPresence presence,
    TimeProvider timeProvider,
    ILogger<ChatHandler> logger) : WebSocketHandler
{
    /// <summary>The longest message text, in UTF-16 code units (what the page counts too).</summary>
    public const int MaxTextLength = 2000;

    public override async ValueTask OnConnectedAsync(WebSocketConnection connection, CancellationToken cancellationToken)
    {
        var user = connection.UserKey;
        Log.Connected(logger, user, connection.ConnectionId);

        // Nothing reaches this connection before it joins the room below, so awaiting the (cluster-wide) count keeps hello first.
        var connections = await presence.GetConnectionCountAsync(user, cancellationToken);
        var hello = new HelloMessage(user, connection.ConnectionId, connections, options.Value.MaxConnectionsPerUser);
        Send(connection, hello, ChatJsonContext.Default.HelloMessage);
        await presence.JoinAsync(connection);
        if (connections == 1)
        {
            // The user's first tab: every notifications connection (the other pool) hears of it.
            var joined = new JoinedMessage(user, timeProvider.GetUtcNow());
            await notifications.SendToAllAsync(Serialize(joined, ChatJsonContext.Default.JoinedMessage), WebSocketMessageType.Text, cancellationToken);
        }
    }

    public override async ValueTask OnMessageAsync(WebSocketConnection connection, WebSocketMessage message, CancellationToken cancellationToken)
    {
        if (!message.IsText)
        {
            SendError(connection, "bad_message", "Send JSON text messages.");
            return;
        }

        InboundMessage? inbound;
        try
        {
            inbound = JsonSerializer.Deserialize(message.Payload.Span, ChatJsonContext.Default.InboundMessage);
        }
        catch (JsonException)
        {
            SendError(connection, "bad_json", "The message is not valid JSON.");
            return;
        }

        switch (inbound?.Type)
        {
            case "chat":
                await SendChatAsync(connection, inbound.Text, cancellationToken);
                break;
            case "dm":
                await SendDirectAsync(connection, inbound.To, inbound.Text, cancellationToken);
                break;
            default:
                SendError(connection, "unknown_type", "Unknown message type: use \"chat\" or \"dm\".");
                break;
        }
    }

    /// <summary>Too many messages (<see cref="WebSocketPoolOptions.MessageRateLimit"/>): say so instead of closing.</summary>
    public override ValueTask OnRateLimitedAsync(WebSocketConnection connection, CancellationToken cancellationToken)
    {
        SendError(connection, "rate_limited", "You are sending messages too fast; that one was not delivered.");
        return default;
    }

    public override async ValueTask OnDisconnectedAsync(WebSocketConnection connection, WebSocketDisconnect disconnect)
    {
        Log.Disconnected(logger, connection.UserKey, connection.ConnectionId, disconnect.Reason, disconnect.CloseCode);
        await presence.LeaveAsync(connection.ConnectionId);
    }

    private async Task SendChatAsync(WebSocketConnection connection, string? text, CancellationToken cancellationToken)
    {
        if (!IsValidText(connection, text))
        {
            return;
        }

        var chat = new ChatMessage(connection.UserKey, text, timeProvider.GetUtcNow());
        await sender.SendToGroupAsync(ChatPresence.Room, Serialize(chat, ChatJsonContext.Default.ChatMessage), WebSocketMessageType.Text, cancellationToken);
    }

    private async Task SendDirectAsync(WebSocketConnection connection, string? to, string? text, CancellationToken cancellationToken)
    {
        if (!IsValidText(connection, text))
        {
            return;
        }

        if (to is null || UserName.Validate(to) is not null)
        {
            SendError(connection, "unknown_user", "Name a user who is online.");
            return;
        }

        var from = connection.UserKey;
        var payload = Serialize(new DirectMessage(from, to, text, timeProvider.GetUtcNow()), ChatJsonContext.Default.DirectMessage);

        // Alone, this node's deliveries tell whether the user is online. In a cluster they only count this node's
        // connections, so the cluster-wide count decides, before anything is sent.
        bool online;
        if (presence.IsCluster)
        {
            online = await presence.GetConnectionCountAsync(to, cancellationToken) > 0;
            if (online)
            {
                await sender.SendToGroupAsync(ChatPresence.UserGroup(to), payload, WebSocketMessageType.Text, cancellationToken);
            }
        }
        else
        {
            online = await sender.SendToGroupAsync(ChatPresence.UserGroup(to), payload, WebSocketMessageType.Text, cancellationToken) > 0;
        }

        if (!online)
        {
            SendError(connection, "unknown_user", $"{to} is not online.");
            return;
        }

        if (!string.Equals(to, from, StringComparison.Ordinal))
        {
            // The sender's own tabs see the conversation too.
            await sender.SendToGroupAsync(ChatPresence.UserGroup(from), payload, WebSocketMessageType.Text, cancellationToken);
        }
    }

    private static bool IsValidText(WebSocketConnection connection, [NotNullWhen(true)] string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            SendError(connection, "empty_text", "The message has no text.");
            return false;
        }

        if (text.Length > MaxTextLength)
        {
            SendError(connection, "text_too_long", $"A message may have at most {MaxTextLength} characters.");
            return false;
        }

        return true;
    }

    private static void SendError(WebSocketConnection connection, string code, string message) =>
        Send(connection, new ErrorMessage(code, message), ChatJsonContext.Default.ErrorMessage);

    private static void Send<T>(WebSocketConnection connection, T message, JsonTypeInfo<T> typeInfo) =>
        connection.Send(Serialize(message, typeInfo), WebSocketMessageType.Text);

    private static byte[] Serialize<T>(T message, JsonTypeInfo<T> typeInfo) => JsonSerializer.SerializeToUtf8Bytes(message, typeInfo);

    // Names are user keys, which may be personal data: the sample logs them only at Debug (the pool logs connection ids).
    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "User {User} connected ({ConnectionId}).", EventName = "ChatConnected")]
        public static partial void Connected(ILogger logger, string user, string connectionId);

        [LoggerMessage(2, LogLevel.Debug, "User {User} disconnected ({ConnectionId}): {Reason}, close code {CloseCode}.", EventName = "ChatDisconnected")]
        public static partial void Disconnected(ILogger logger, string user, string connectionId, DisconnectReason reason, int? closeCode);
    }
}

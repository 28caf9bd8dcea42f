// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using System.Text;

namespace WebSocketPool;

/// <summary>Text overloads of <see cref="IWebSocketSender"/>: the text is encoded once as UTF-8 and shared by all recipients.</summary>
public static class WebSocketSenderExtensions
{
    /// <summary>Queues a text message for one connection.</summary>
    /// <param name="sender">The sender.</param>
    /// <param name="connectionId">The connection id.</param>
    /// <param name="text">The text.</param>
    /// <param name="cancellationToken">Cancels a remote publish.</param>
    /// <returns>The outcome.</returns>
    public static ValueTask<SendResult> SendTextToConnectionAsync(this IWebSocketSender sender, string connectionId, string text, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sender);
        return sender.SendToConnectionAsync(connectionId, Encode(text), WebSocketMessageType.Text, cancellationToken);
    }

    /// <summary>Queues a text message for every connection of a user.</summary>
    /// <param name="sender">The sender.</param>
    /// <param name="userKey">The user.</param>
    /// <param name="text">The text.</param>
    /// <param name="cancellationToken">Cancels a remote publish.</param>
    /// <returns>How many local connections the message was queued for.</returns>
    public static ValueTask<int> SendTextToUserAsync(this IWebSocketSender sender, string userKey, string text, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sender);
        return sender.SendToUserAsync(userKey, Encode(text), WebSocketMessageType.Text, cancellationToken);
    }

    /// <summary>Queues a text message for every member of a group.</summary>
    /// <param name="sender">The sender.</param>
    /// <param name="group">The group.</param>
    /// <param name="text">The text.</param>
    /// <param name="cancellationToken">Cancels a remote publish.</param>
    /// <returns>How many local connections the message was queued for.</returns>
    public static ValueTask<int> SendTextToGroupAsync(this IWebSocketSender sender, string group, string text, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sender);
        return sender.SendToGroupAsync(group, Encode(text), WebSocketMessageType.Text, cancellationToken);
    }

    /// <summary>Queues a text message for every open connection.</summary>
    /// <param name="sender">The sender.</param>
    /// <param name="text">The text.</param>
    /// <param name="cancellationToken">Cancels a remote publish.</param>
    /// <returns>How many local connections the message was queued for.</returns>
    public static ValueTask<int> SendTextToAllAsync(this IWebSocketSender sender, string text, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sender);
        return sender.SendToAllAsync(Encode(text), WebSocketMessageType.Text, cancellationToken);
    }

    private static byte[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Encoding.UTF8.GetBytes(text);
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;

namespace WebSocketPool;

/// <summary>
/// Sends to pooled connections: one connection, all of a user's connections, a group, or everyone; manages groups;
/// disconnects users. Sends only queue: they never wait for a slow peer, and a full queue applies
/// <see cref="WebSocketPoolOptions.SlowConsumerPolicy"/> to that connection alone. Payloads are not copied; do not
/// change one after passing it. With <c>WebSocketPool.Redis</c> the same calls reach every node of the cluster.
/// </summary>
public interface IWebSocketSender
{
    /// <summary>Queues a message for one connection.</summary>
    /// <param name="connectionId">The connection id.</param>
    /// <param name="payload">The message bytes.</param>
    /// <param name="messageType">Text or binary.</param>
    /// <param name="cancellationToken">Cancels a remote publish.</param>
    /// <returns>The outcome for a local connection; <see cref="SendResult.NotFound"/> when no node holds it.</returns>
    ValueTask<SendResult> SendToConnectionAsync(string connectionId, ReadOnlyMemory<byte> payload, WebSocketMessageType messageType, CancellationToken cancellationToken = default);

    /// <summary>Queues a message for every connection of a user.</summary>
    /// <param name="userKey">The user.</param>
    /// <param name="payload">The message bytes.</param>
    /// <param name="messageType">Text or binary.</param>
    /// <param name="cancellationToken">Cancels a remote publish.</param>
    /// <returns>How many connections on this node the message was queued for.</returns>
    ValueTask<int> SendToUserAsync(string userKey, ReadOnlyMemory<byte> payload, WebSocketMessageType messageType, CancellationToken cancellationToken = default);

    /// <summary>Queues a message for every member of a group.</summary>
    /// <param name="group">The group name.</param>
    /// <param name="payload">The message bytes.</param>
    /// <param name="messageType">Text or binary.</param>
    /// <param name="cancellationToken">Cancels a remote publish.</param>
    /// <returns>How many connections on this node the message was queued for.</returns>
    ValueTask<int> SendToGroupAsync(string group, ReadOnlyMemory<byte> payload, WebSocketMessageType messageType, CancellationToken cancellationToken = default);

    /// <summary>Queues a message for every open connection.</summary>
    /// <param name="payload">The message bytes.</param>
    /// <param name="messageType">Text or binary.</param>
    /// <param name="cancellationToken">Cancels a remote publish.</param>
    /// <returns>How many connections on this node the message was queued for.</returns>
    ValueTask<int> SendToAllAsync(ReadOnlyMemory<byte> payload, WebSocketMessageType messageType, CancellationToken cancellationToken = default);

    /// <summary>Adds a connection to a group; it leaves all groups when it ends.</summary>
    /// <param name="connectionId">The connection id.</param>
    /// <param name="group">The group name.</param>
    /// <param name="cancellationToken">Cancels a remote call.</param>
    /// <returns><see langword="true"/> when the connection is open and now a member.</returns>
    ValueTask<bool> AddToGroupAsync(string connectionId, string group, CancellationToken cancellationToken = default);

    /// <summary>Removes a connection from a group.</summary>
    /// <param name="connectionId">The connection id.</param>
    /// <param name="group">The group name.</param>
    /// <param name="cancellationToken">Cancels a remote call.</param>
    /// <returns><see langword="true"/> when the connection was a member.</returns>
    ValueTask<bool> RemoveFromGroupAsync(string connectionId, string group, CancellationToken cancellationToken = default);

    /// <summary>Closes every connection of a user (4003 by default). Local slots are free when the call returns.</summary>
    /// <param name="userKey">The user.</param>
    /// <param name="closeCode">The close code.</param>
    /// <param name="reason">The close reason.</param>
    /// <param name="cancellationToken">Cancels a remote publish.</param>
    /// <returns>How many connections on this node were closed.</returns>
    ValueTask<int> DisconnectUserAsync(string userKey, int closeCode = WebSocketCloseCodes.Kicked, string? reason = null, CancellationToken cancellationToken = default);

    /// <summary>Closes one connection (4003 by default). A local slot is free when the call returns.</summary>
    /// <param name="connectionId">The connection id.</param>
    /// <param name="closeCode">The close code.</param>
    /// <param name="reason">The close reason.</param>
    /// <param name="cancellationToken">Cancels a remote publish.</param>
    /// <returns><see langword="true"/> when a local connection was closed.</returns>
    ValueTask<bool> DisconnectConnectionAsync(string connectionId, int closeCode = WebSocketCloseCodes.Kicked, string? reason = null, CancellationToken cancellationToken = default);
}

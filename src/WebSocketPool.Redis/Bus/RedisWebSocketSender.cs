// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using WebSocketPool.Internal;

namespace WebSocketPool.Redis.Internal;

/// <summary>
/// The cluster-wide <see cref="IWebSocketSender"/>. Broadcasts are delivered to this node's connections first, with no
/// round trip through Redis, and then published for the other nodes without waiting. A connection id starts with its
/// node's id, so a send or kick for one connection goes straight to that node's channel (or nowhere, when local).
/// Return values count this node's deliveries, as the interface says; for a connection on another node they tell
/// whether that node received the request.
/// </summary>
internal sealed class RedisWebSocketSender(RedisLocalSender local, RedisBus bus, PooledWebSocketManagerFactory factory) : IWebSocketSender
{
    private readonly IWebSocketSender _local = local.Inner;
    private readonly string _nodeId = factory.NodeId;

    public async ValueTask<SendResult> SendToConnectionAsync(string connectionId, ReadOnlyMemory<byte> payload, WebSocketMessageType messageType, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connectionId);
        Validate(messageType);
        if (!TryGetRemoteNode(connectionId, out var node))
        {
            return await _local.SendToConnectionAsync(connectionId, payload, messageType, cancellationToken).ConfigureAwait(false);
        }

        var receivers = await bus.PublishToNodeAsync(node, Message(BusMessageKind.Connection, connectionId, (int)messageType, null, payload), cancellationToken).ConfigureAwait(false);
        return receivers > 0 ? SendResult.Queued : SendResult.NotFound;
    }

    public async ValueTask<int> SendToUserAsync(string userKey, ReadOnlyMemory<byte> payload, WebSocketMessageType messageType, CancellationToken cancellationToken = default)
    {
        var delivered = await _local.SendToUserAsync(userKey, payload, messageType, cancellationToken).ConfigureAwait(false);
        bus.Publish(Message(BusMessageKind.User, userKey, (int)messageType, null, payload));
        return delivered;
    }

    public async ValueTask<int> SendToGroupAsync(string group, ReadOnlyMemory<byte> payload, WebSocketMessageType messageType, CancellationToken cancellationToken = default)
    {
        var delivered = await _local.SendToGroupAsync(group, payload, messageType, cancellationToken).ConfigureAwait(false);
        bus.Publish(Message(BusMessageKind.Group, group, (int)messageType, null, payload));
        return delivered;
    }

    public async ValueTask<int> SendToAllAsync(ReadOnlyMemory<byte> payload, WebSocketMessageType messageType, CancellationToken cancellationToken = default)
    {
        var delivered = await _local.SendToAllAsync(payload, messageType, cancellationToken).ConfigureAwait(false);
        bus.Publish(Message(BusMessageKind.All, string.Empty, (int)messageType, null, payload));
        return delivered;
    }

    public async ValueTask<bool> AddToGroupAsync(string connectionId, string group, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connectionId);
        ArgumentException.ThrowIfNullOrEmpty(group);
        if (!TryGetRemoteNode(connectionId, out var node))
        {
            return await _local.AddToGroupAsync(connectionId, group, cancellationToken).ConfigureAwait(false);
        }

        return await bus.PublishToNodeAsync(node, Message(BusMessageKind.AddToGroup, connectionId, 0, group, default), cancellationToken).ConfigureAwait(false) > 0;
    }

    public async ValueTask<bool> RemoveFromGroupAsync(string connectionId, string group, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connectionId);
        ArgumentException.ThrowIfNullOrEmpty(group);
        if (!TryGetRemoteNode(connectionId, out var node))
        {
            return await _local.RemoveFromGroupAsync(connectionId, group, cancellationToken).ConfigureAwait(false);
        }

        return await bus.PublishToNodeAsync(node, Message(BusMessageKind.RemoveFromGroup, connectionId, 0, group, default), cancellationToken).ConfigureAwait(false) > 0;
    }

    public async ValueTask<int> DisconnectUserAsync(string userKey, int closeCode = WebSocketCloseCodes.Kicked, string? reason = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(userKey);
        CloseArguments.ThrowIfInvalid(closeCode, reason);
        var closed = await _local.DisconnectUserAsync(userKey, closeCode, reason, cancellationToken).ConfigureAwait(false);
        bus.Publish(Message(BusMessageKind.KickUser, userKey, closeCode, reason, default));
        return closed;
    }

    public async ValueTask<bool> DisconnectConnectionAsync(string connectionId, int closeCode = WebSocketCloseCodes.Kicked, string? reason = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connectionId);
        CloseArguments.ThrowIfInvalid(closeCode, reason);
        if (!TryGetRemoteNode(connectionId, out var node))
        {
            return await _local.DisconnectConnectionAsync(connectionId, closeCode, reason, cancellationToken).ConfigureAwait(false);
        }

        return await bus.PublishToNodeAsync(node, Message(BusMessageKind.KickConnection, connectionId, closeCode, reason, default), cancellationToken).ConfigureAwait(false) > 0;
    }

    /// <summary>True when the id names a connection of another node (ids are "NODE-NUMBER").</summary>
    private bool TryGetRemoteNode(string connectionId, out string node)
    {
        var dash = connectionId.IndexOf('-', StringComparison.Ordinal);
        node = dash > 0 ? connectionId[..dash] : string.Empty;
        return dash > 0 && !string.Equals(node, _nodeId, StringComparison.Ordinal);
    }

    private BusMessage Message(BusMessageKind kind, string target, int code, string? text, ReadOnlyMemory<byte> payload) =>
        new(kind, _nodeId, target, code, text, payload);

    private static void Validate(WebSocketMessageType messageType)
    {
        if (messageType == WebSocketMessageType.Close)
        {
            throw new ArgumentException("Close is not a message type one can send; disconnect instead.", nameof(messageType));
        }
    }
}

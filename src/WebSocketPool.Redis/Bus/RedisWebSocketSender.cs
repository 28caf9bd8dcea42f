// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using WebSocketPool.Internal;

namespace WebSocketPool.Redis.Internal;

/// <summary>
/// The cluster-wide <see cref="IWebSocketSender"/>. Sends to a user, a group or everyone are delivered to this node's
/// connections first, with no round trip through Redis, then published without waiting on the user's, the group's or
/// everyone's channel, which only the nodes holding such connections hear. A connection id starts with its node's id,
/// so a send, kick or group change for one connection goes straight to that node's channel (or nowhere, when local).
/// Return values count this node's deliveries, as the interface says; for a connection on another node they tell
/// whether that node received the request, and a group change waits for that node to confirm it.
/// </summary>
internal sealed class RedisWebSocketSender(RedisLocalSender local, RedisBus bus, PooledWebSocketManagerFactory factory, TimeProvider timeProvider)
    : IWebSocketSender
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
        if (userKey.Length > 0)
        {
            bus.Publish(bus.Channels.User(userKey), Message(BusMessageKind.User, userKey, (int)messageType, null, payload));
        }

        return delivered;
    }

    public async ValueTask<int> SendToGroupAsync(string group, ReadOnlyMemory<byte> payload, WebSocketMessageType messageType, CancellationToken cancellationToken = default)
    {
        var delivered = await _local.SendToGroupAsync(group, payload, messageType, cancellationToken).ConfigureAwait(false);
        if (group.Length > 0)
        {
            bus.Publish(bus.Channels.Group(group), Message(BusMessageKind.Group, group, (int)messageType, null, payload));
        }

        return delivered;
    }

    public async ValueTask<int> SendToAllAsync(ReadOnlyMemory<byte> payload, WebSocketMessageType messageType, CancellationToken cancellationToken = default)
    {
        var delivered = await _local.SendToAllAsync(payload, messageType, cancellationToken).ConfigureAwait(false);
        bus.Publish(bus.Channels.All, Message(BusMessageKind.All, string.Empty, (int)messageType, null, payload));
        return delivered;
    }

    public async ValueTask<bool> AddToGroupAsync(string connectionId, string group, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connectionId);
        ArgumentException.ThrowIfNullOrEmpty(group);
        return TryGetRemoteNode(connectionId, out var node)
            ? await ChangeRemoteGroupAsync(node, BusMessageKind.AddToGroup, connectionId, group, cancellationToken).ConfigureAwait(false)
            : await bus.Interests.JoinAsync(connectionId, group).ConfigureAwait(false);
    }

    public async ValueTask<bool> RemoveFromGroupAsync(string connectionId, string group, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connectionId);
        ArgumentException.ThrowIfNullOrEmpty(group);
        return TryGetRemoteNode(connectionId, out var node)
            ? await ChangeRemoteGroupAsync(node, BusMessageKind.RemoveFromGroup, connectionId, group, cancellationToken).ConfigureAwait(false)
            : await bus.Interests.LeaveAsync(connectionId, group).ConfigureAwait(false);
    }

    public async ValueTask<int> DisconnectUserAsync(string userKey, int closeCode = WebSocketCloseCodes.Kicked, string? reason = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(userKey);
        CloseArguments.ThrowIfInvalid(closeCode, reason);
        var closed = await _local.DisconnectUserAsync(userKey, closeCode, reason, cancellationToken).ConfigureAwait(false);
        if (userKey.Length > 0)
        {
            bus.Publish(bus.Channels.User(userKey), Message(BusMessageKind.KickUser, userKey, closeCode, reason, default));
        }

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

    /// <summary>
    /// Asks the owning node to change a membership and waits for its answer, so that a send issued after this returns
    /// reaches (or no longer reaches) the connection. <see langword="false"/> when no node with that id listens, Redis
    /// refused or did not take the request, or the owning node holds no such open connection.
    /// </summary>
    /// <exception cref="TimeoutException">The node received the request but did not answer within the operation timeout: the change may or may not have been made.</exception>
    private async Task<bool> ChangeRemoteGroupAsync(string node, BusMessageKind kind, string connectionId, string group, CancellationToken cancellationToken)
    {
        var (id, answer) = bus.Acks.Create();
        try
        {
            var receivers = await bus.PublishToNodeAsync(node, Message(kind, connectionId, id, group, default), cancellationToken).ConfigureAwait(false);
            if (receivers == 0)
            {
                return false;
            }

            try
            {
                return await answer.WaitAsync(bus.OperationTimeout, timeProvider, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException ex)
            {
                throw new TimeoutException(
                    $"Node '{node}' received the request to {(kind == BusMessageKind.AddToGroup ? "add" : "remove")} connection '{connectionId}' " +
                    $"{(kind == BusMessageKind.AddToGroup ? "to" : "from")} a group but did not confirm it within {bus.OperationTimeout}; the change may or may not have been made.", ex);
            }
        }
        finally
        {
            bus.Acks.Forget(id);
        }
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

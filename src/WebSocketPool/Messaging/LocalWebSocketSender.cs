// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;

namespace WebSocketPool.Internal;

/// <summary>
/// Delivers to connections on this node. Recipients are copied out under their user's (or group's) lock and the
/// messages queued after it is released, so no lock is held while sending; queueing never waits for a peer.
/// </summary>
internal sealed class LocalWebSocketSender(PooledWebSocketManagerFactory factory) : IWebSocketSender
{
    public ValueTask<SendResult> SendToConnectionAsync(string connectionId, ReadOnlyMemory<byte> payload, WebSocketMessageType messageType, CancellationToken cancellationToken = default) =>
        new(SendToConnection(connectionId, payload, messageType));

    public ValueTask<int> SendToUserAsync(string userKey, ReadOnlyMemory<byte> payload, WebSocketMessageType messageType, CancellationToken cancellationToken = default) =>
        new(SendToUser(userKey, payload, messageType));

    public ValueTask<int> SendToGroupAsync(string group, ReadOnlyMemory<byte> payload, WebSocketMessageType messageType, CancellationToken cancellationToken = default) =>
        new(SendToGroup(group, payload, messageType));

    public ValueTask<int> SendToAllAsync(ReadOnlyMemory<byte> payload, WebSocketMessageType messageType, CancellationToken cancellationToken = default) =>
        new(SendToAll(payload, messageType));

    public ValueTask<bool> AddToGroupAsync(string connectionId, string group, CancellationToken cancellationToken = default) =>
        new(AddToGroup(connectionId, group));

    public ValueTask<bool> RemoveFromGroupAsync(string connectionId, string group, CancellationToken cancellationToken = default) =>
        new(RemoveFromGroup(connectionId, group));

    public ValueTask<int> DisconnectUserAsync(string userKey, int closeCode = WebSocketCloseCodes.Kicked, string? reason = null, CancellationToken cancellationToken = default) =>
        new(factory.DisconnectUser(userKey, closeCode, reason));

    public ValueTask<bool> DisconnectConnectionAsync(string connectionId, int closeCode = WebSocketCloseCodes.Kicked, string? reason = null, CancellationToken cancellationToken = default) =>
        new(factory.DisconnectConnection(connectionId, closeCode, reason));

    public SendResult SendToConnection(string connectionId, ReadOnlyMemory<byte> payload, WebSocketMessageType messageType)
    {
        ArgumentNullException.ThrowIfNull(connectionId);
        Validate(messageType);
        return factory.TryGetConnection(connectionId, out var connection) ? connection.Send(payload, messageType) : SendResult.NotFound;
    }

    public int SendToUser(string userKey, ReadOnlyMemory<byte> payload, WebSocketMessageType messageType)
    {
        ArgumentNullException.ThrowIfNull(userKey);
        Validate(messageType);
        var buffer = RecipientBuffer.Rent();
        try
        {
            var count = factory.CopyUserManagers(userKey, ref buffer);
            return Deliver(buffer.AsSpan(0, count), payload, messageType);
        }
        finally
        {
            RecipientBuffer.Return(buffer);
        }
    }

    public int SendToGroup(string group, ReadOnlyMemory<byte> payload, WebSocketMessageType messageType)
    {
        ArgumentNullException.ThrowIfNull(group);
        Validate(messageType);
        var buffer = RecipientBuffer.Rent();
        try
        {
            var count = factory.Groups.CopyMembers(group, ref buffer);
            return Deliver(buffer.AsSpan(0, count), payload, messageType);
        }
        finally
        {
            RecipientBuffer.Return(buffer);
        }
    }

    public int SendToAll(ReadOnlyMemory<byte> payload, WebSocketMessageType messageType)
    {
        Validate(messageType);
        var delivered = 0;

        // The registry's broadcast table: no lock taken, nothing copied or allocated, whatever the number of connections.
        foreach (var manager in factory.OpenSlots)
        {
            if (manager is not null && manager.Enqueue(manager.Generation, payload, messageType) is SendResult.Queued or SendResult.QueuedDroppedOldest)
            {
                delivered++;
            }
        }

        return delivered;
    }

    public bool AddToGroup(string connectionId, string group)
    {
        ArgumentNullException.ThrowIfNull(connectionId);
        ArgumentException.ThrowIfNullOrEmpty(group);
        return factory.TryGetManager(connectionId, out var manager, out var generation) && factory.Groups.Add(manager, generation, group);
    }

    public bool RemoveFromGroup(string connectionId, string group)
    {
        ArgumentNullException.ThrowIfNull(connectionId);
        ArgumentException.ThrowIfNullOrEmpty(group);
        return factory.TryGetManager(connectionId, out var manager, out var generation) && factory.Groups.Remove(manager, generation, group);
    }

    private static int Deliver(ReadOnlySpan<(IsolatedWebSocketManager Manager, long Generation)> recipients, ReadOnlyMemory<byte> payload, WebSocketMessageType messageType)
    {
        var delivered = 0;
        foreach (var (manager, generation) in recipients)
        {
            if (manager.Enqueue(generation, payload, messageType) is SendResult.Queued or SendResult.QueuedDroppedOldest)
            {
                delivered++;
            }
        }

        return delivered;
    }

    private static void Validate(WebSocketMessageType messageType)
    {
        if (messageType == WebSocketMessageType.Close)
        {
            throw new ArgumentException("Close is not a message type one can send; disconnect instead.", nameof(messageType));
        }
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using System.Text.Json;
using ChatServer.Messages;
using WebSocketPool;
using WebSocketPool.Redis;

namespace ChatServer;

/// <summary>
/// Who is in the room, with how many connections, and the groups that route chat messages. A connection joins after
/// its <c>hello</c> was queued, so no chat, DM or presence message can overtake the <c>hello</c>. Joins and leaves are
/// serialized: each one updates the counts and queues the new full list to everyone before the next one starts, so
/// every client sees the lists in the order they were made and the last one it gets is the current one.
/// </summary>
/// <remarks>
/// On a node of a cluster (<paramref name="cluster"/> is set) the list is the cluster's: read once at start
/// (<see cref="StartWatchingAsync"/>), then kept current by the cluster's presence changes, each applied here and sent
/// to this node's own connections. Every node hears the changes in the same order, so every panel shows the same list,
/// and a change costs Redis O(1) work however many users are online. A node that dies announces nothing, so
/// <see cref="RefreshAsync"/> (run on a timer) reads the list again and sends it to this node's connections: every
/// panel converges on the cluster's list within one period.
/// </remarks>
internal sealed class ChatPresence(IWebSocketSender sender, PooledWebSocketManagerFactory factory, WebSocketClusterPresence? cluster = null) : IDisposable
{
    /// <summary>The group of every connection in the room.</summary>
    public const string Room = "room";

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<string, WebSocketConnection> _members = new(StringComparer.Ordinal);
    private readonly SortedDictionary<string, int> _counts = new(StringComparer.Ordinal);
    private readonly SortedDictionary<string, int> _clusterCounts = new(StringComparer.Ordinal);
    private IAsyncDisposable? _watch;

    /// <summary>Gets a value indicating whether this node is part of a cluster (the counts then span every node).</summary>
    public bool IsCluster => cluster is not null;

    /// <summary>The group of all of one user's connections (names cannot contain ':', so it never clashes with <see cref="Room"/>).</summary>
    public static string UserGroup(string user) => "user:" + user;

    /// <summary>Counts a user's connections: on every node of the cluster, or on this node alone.</summary>
    public async ValueTask<int> GetConnectionCountAsync(string user, CancellationToken cancellationToken) =>
        cluster is null ? factory.GetConnectionCount(user) : await cluster.GetConnectionCountAsync(user, cancellationToken);

    /// <summary>On a node of a cluster: starts following the cluster's presence changes, then reads the list once.</summary>
    public async Task StartWatchingAsync(CancellationToken cancellationToken)
    {
        if (cluster is null)
        {
            return;
        }

        // Watch first, then read: no change made after the read can be missed (one made just before it may come after
        // it, a little stale until the user's next change or the next refresh).
        _watch = await cluster.WatchAsync(OnClusterChangeAsync, cancellationToken);
        await _gate.WaitAsync(cancellationToken);
        try
        {
            await ReadClusterListAsync();
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Adds a connection to the room and tells everyone.</summary>
    public async Task JoinAsync(WebSocketConnection connection)
    {
        // Not cancellable: the gate is held only while queueing, and a leave must never be skipped.
        await _gate.WaitAsync(CancellationToken.None);
        try
        {
            if (!await sender.AddToGroupAsync(connection.ConnectionId, Room))
            {
                return; // closed already; its disconnect finds nothing to remove
            }

            await sender.AddToGroupAsync(connection.ConnectionId, UserGroup(connection.UserKey));
            _members.Add(connection.ConnectionId, connection);
            _counts[connection.UserKey] = _counts.GetValueOrDefault(connection.UserKey) + 1;
            if (cluster is null)
            {
                await BroadcastAsync();
            }
            else
            {
                // Everyone hears of the join through the cluster's change; the newcomer gets the list as it stands.
                connection.Send(Serialize(ClusterUsers()), WebSocketMessageType.Text);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Removes a connection (it left its groups when its lease ended) and tells everyone.</summary>
    public async Task LeaveAsync(string connectionId)
    {
        await _gate.WaitAsync(CancellationToken.None);
        try
        {
            if (!_members.Remove(connectionId, out var connection))
            {
                return;
            }

            var user = connection.UserKey;

            var left = _counts[user] - 1;
            if (left == 0)
            {
                _counts.Remove(user);
            }
            else
            {
                _counts[user] = left;
            }

            if (cluster is null)
            {
                await BroadcastAsync(); // in a cluster, everyone hears of it through the cluster's change
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Sends the current list to this node's connections (catching up with other nodes' changes and dead nodes).</summary>
    public async Task RefreshAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (cluster is not null)
            {
                await ReadClusterListAsync();
            }

            SendToMembers(Serialize(cluster is null ? LocalUsers() : ClusterUsers()));
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Stops following the cluster's presence changes (at shutdown).</summary>
    public async Task StopWatchingAsync()
    {
        if (Interlocked.Exchange(ref _watch, null) is { } watch)
        {
            await watch.DisposeAsync();
        }
    }

    public void Dispose() => _gate.Dispose();

    /// <summary>A user's connections changed somewhere in the cluster: apply it and show this node's connections the list.</summary>
    private async ValueTask OnClusterChangeAsync(UserConnectionCount change)
    {
        await _gate.WaitAsync(CancellationToken.None);
        try
        {
            if (change.Connections == 0)
            {
                _clusterCounts.Remove(change.User);
            }
            else
            {
                _clusterCounts[change.User] = change.Connections;
            }

            SendToMembers(Serialize(ClusterUsers()));
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Under the gate: replaces the cluster's list with a fresh read (this node's users while Redis does not answer).</summary>
    private async Task ReadClusterListAsync()
    {
        var online = await cluster!.GetOnlineUsersAsync();
        _clusterCounts.Clear();
        foreach (var user in online)
        {
            _clusterCounts[user.User] = user.Connections;
        }
    }

    private void SendToMembers(byte[] payload)
    {
        foreach (var connection in _members.Values)
        {
            connection.Send(payload, WebSocketMessageType.Text); // a connection closing meanwhile just misses it
        }
    }

    private async Task BroadcastAsync()
    {
        // One payload for everyone; the sender queues it without copying, so it is never changed afterwards.
        var payload = Serialize(LocalUsers());
        await sender.SendToGroupAsync(Room, payload, WebSocketMessageType.Text);
    }

    private static byte[] Serialize(PresenceUser[] users) =>
        JsonSerializer.SerializeToUtf8Bytes(new PresenceMessage(users), ChatJsonContext.Default.PresenceMessage);

    private PresenceUser[] LocalUsers()
    {
        var users = new PresenceUser[_counts.Count];
        var i = 0;
        foreach (var (name, connections) in _counts)
        {
            users[i++] = new PresenceUser(name, connections);
        }

        return users;
    }

    // Ordered by name, as the local list is.
    private PresenceUser[] ClusterUsers()
    {
        var users = new PresenceUser[_clusterCounts.Count];
        var i = 0;
        foreach (var (name, connections) in _clusterCounts)
        {
            users[i++] = new PresenceUser(name, connections);
        }

        return users;
    }
}

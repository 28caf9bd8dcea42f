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
/// On a node of a cluster (<paramref name="cluster"/> is set) the list comes from the cluster's leases instead of this
/// node's counts, and goes to the room on every node. Lists made on two nodes at nearly the same time have no common
/// order, and a node that dies sends no update, so <see cref="RefreshAsync"/> (run on a timer) sends the current list
/// to this node's own connections again: every panel converges on the cluster's list within one period. It is sent
/// whether or not it changed, because a node cannot know which list its connections last got from another node.
/// </remarks>
internal sealed class ChatPresence(IWebSocketSender sender, PooledWebSocketManagerFactory factory, WebSocketClusterPresence? cluster = null) : IDisposable
{
    /// <summary>The group of every connection in the room.</summary>
    public const string Room = "room";

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<string, WebSocketConnection> _members = new(StringComparer.Ordinal);
    private readonly SortedDictionary<string, int> _counts = new(StringComparer.Ordinal);

    /// <summary>Gets a value indicating whether this node is part of a cluster (the counts then span every node).</summary>
    public bool IsCluster => cluster is not null;

    /// <summary>The group of all of one user's connections (names cannot contain ':', so it never clashes with <see cref="Room"/>).</summary>
    public static string UserGroup(string user) => "user:" + user;

    /// <summary>Counts a user's connections: on every node of the cluster, or on this node alone.</summary>
    public async ValueTask<int> GetConnectionCountAsync(string user, CancellationToken cancellationToken) =>
        cluster is null ? factory.GetConnectionCount(user) : await cluster.GetConnectionCountAsync(user, cancellationToken);

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
            await BroadcastAsync();
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

            await BroadcastAsync();
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
            var payload = Serialize(await UsersAsync());
            foreach (var connection in _members.Values)
            {
                connection.Send(payload, WebSocketMessageType.Text); // a connection closing meanwhile just misses it
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose() => _gate.Dispose();

    private async Task BroadcastAsync()
    {
        // One payload for everyone; the sender queues it without copying, so it is never changed afterwards.
        var payload = Serialize(await UsersAsync());
        await sender.SendToGroupAsync(Room, payload, WebSocketMessageType.Text);
    }

    private async ValueTask<PresenceUser[]> UsersAsync() => cluster is null ? LocalUsers() : await ClusterUsersAsync(cluster);

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

    // Ordered by name, as the local list is; it falls back to this node's connections while Redis does not answer.
    private static async Task<PresenceUser[]> ClusterUsersAsync(WebSocketClusterPresence cluster)
    {
        var online = await cluster.GetOnlineUsersAsync();
        var users = new PresenceUser[online.Count];
        for (var i = 0; i < users.Length; i++)
        {
            users[i] = new PresenceUser(online[i].User, online[i].Connections);
        }

        return users;
    }
}

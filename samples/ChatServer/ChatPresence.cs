// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using System.Text.Json;
using ChatServer.Messages;
using WebSocketPool;
using WebSocketPool.Redis;

namespace ChatServer;

/// <summary>
/// Who is in the room, with how many connections, and the groups that route chat messages. A connection joins after
/// its <c>hello</c> was queued, so no chat, DM or presence message can overtake the <c>hello</c>. A joining connection
/// gets the full list (<c>presence</c>) before it enters the room; everyone else gets only what changed
/// (<c>presence_delta</c>: the user and their new connection count, 0 when they left), so a join or a leave costs every
/// member a message of constant size, not one that grows with the room. Joins and leaves are serialized: each one
/// updates the counts and queues its messages before the next one starts, so every client applies the changes in the
/// order they were made, on top of the full list it started from.
/// </summary>
/// <remarks>
/// On a node of a cluster (<paramref name="cluster"/> is set) the counts come from the cluster's leases instead of this
/// node's, and the deltas go to the room on every node. Changes made on two nodes at nearly the same time have no common
/// order, and a node that dies sends no leave, so <see cref="RefreshAsync"/> (run on a timer) sends the current full
/// list to this node's own connections again: every panel converges on the cluster's list within one period. Deltas
/// carry absolute counts, not increments, so one applied late or twice does no lasting harm.
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

    /// <summary>Gives a connection the full list, tells everyone else of the change, and adds the connection to the room.</summary>
    public async Task JoinAsync(WebSocketConnection connection)
    {
        // Not cancellable: the gate is held only while queueing, and a leave must never be skipped.
        await _gate.WaitAsync(CancellationToken.None);
        try
        {
            var user = connection.UserKey;
            Count(user, +1);

            // The newcomer is not in the room yet: the full list (itself included) is the first presence message it
            // gets, and the delta reaches only the others.
            connection.Send(Serialize(await UsersAsync()), WebSocketMessageType.Text);
            await SendDeltaAsync(user);
            if (!await sender.AddToGroupAsync(connection.ConnectionId, Room))
            {
                // Closed during its join: its disconnect finds nothing to remove, so the change is taken back here.
                Count(user, -1);
                await SendDeltaAsync(user);
                return;
            }

            await sender.AddToGroupAsync(connection.ConnectionId, UserGroup(user));
            _members.Add(connection.ConnectionId, connection);
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

            Count(connection.UserKey, -1);
            await SendDeltaAsync(connection.UserKey);
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

    /// <summary>Tells the room the user's connection count now (0: the user left). One payload for everyone, never changed afterwards.</summary>
    private async Task SendDeltaAsync(string user)
    {
        var connections = cluster is null ? _counts.GetValueOrDefault(user) : await cluster.GetConnectionCountAsync(user, CancellationToken.None);
        var payload = JsonSerializer.SerializeToUtf8Bytes(
            new PresenceDeltaMessage([new PresenceUser(user, connections)]), ChatJsonContext.Default.PresenceDeltaMessage);
        await sender.SendToGroupAsync(Room, payload, WebSocketMessageType.Text);
    }

    /// <summary>This node's count of the user's connections in the room (the local list; a cluster reads its leases instead).</summary>
    private void Count(string user, int change)
    {
        var count = _counts.GetValueOrDefault(user) + change;
        if (count <= 0)
        {
            _counts.Remove(user);
        }
        else
        {
            _counts[user] = count;
        }
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

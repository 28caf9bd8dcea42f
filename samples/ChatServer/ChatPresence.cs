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
/// member a message of constant size, not one that grows with the room. Joins, leaves and changes are serialized: each
/// one updates the counts and queues its messages before the next one starts, so every client applies the changes in
/// the order they were made, on top of the full list it started from.
/// </summary>
/// <remarks>
/// On a node of a cluster (<paramref name="cluster"/> is set) the list is the cluster's: read once at start
/// (<see cref="StartWatchingAsync"/>), then kept current by the cluster's presence changes (O(1) Redis work each,
/// however many users are online), each applied here and sent as a delta to this node's own connections. Every node
/// hears the changes in the same order. A node that dies announces nothing, so <see cref="RefreshAsync"/> (run on a
/// timer) reads the list again and sends it in full to this node's connections: every panel converges on the cluster's
/// list within one period. Deltas carry absolute counts, not increments, so one applied late or twice does no lasting harm.
/// </remarks>
internal sealed class ChatPresence(IWebSocketSender sender, PooledWebSocketManagerFactory factory, WebSocketClusterPresence? cluster = null) : IDisposable
{
    /// <summary>The group of every connection in the room.</summary>
    public const string Room = "room";

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<string, WebSocketConnection> _members = new(StringComparer.Ordinal);
    private readonly SortedDictionary<string, int> _counts = new(StringComparer.Ordinal);
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

    /// <summary>Stops following the cluster's presence changes (at shutdown).</summary>
    public async Task StopWatchingAsync()
    {
        if (Interlocked.Exchange(ref _watch, null) is { } watch)
        {
            await watch.DisposeAsync();
        }
    }

    /// <summary>Gives a connection the full list, tells everyone else of the change, and adds the connection to the room.</summary>
    public async Task JoinAsync(WebSocketConnection connection)
    {
        // Not cancellable: the gate is held only while queueing, and a leave must never be skipped.
        await _gate.WaitAsync(CancellationToken.None);
        try
        {
            var user = connection.UserKey;
            if (cluster is not null)
            {
                // Everyone hears of the join through the cluster's change; the newcomer gets the list as it stands (the
                // change for its own connection, if it comes after, reaches it as a delta once it is a member).
                connection.Send(Serialize(Users()), WebSocketMessageType.Text);
                if (await sender.AddToGroupAsync(connection.ConnectionId, Room))
                {
                    await sender.AddToGroupAsync(connection.ConnectionId, UserGroup(user));
                    _members.Add(connection.ConnectionId, connection);
                }

                return;
            }

            Count(user, +1);

            // The newcomer is not in the room yet: the full list (itself included) is the first presence message it
            // gets, and the delta reaches only the others.
            connection.Send(Serialize(Users()), WebSocketMessageType.Text);
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
            if (!_members.Remove(connectionId, out var connection) || cluster is not null)
            {
                return; // in a cluster, everyone hears of it through the cluster's change
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
            if (cluster is not null)
            {
                await ReadClusterListAsync();
            }

            SendToMembers(Serialize(Users()));
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose() => _gate.Dispose();

    /// <summary>A user's connections changed somewhere in the cluster: apply it and tell this node's connections.</summary>
    private async ValueTask OnClusterChangeAsync(UserConnectionCount change)
    {
        await _gate.WaitAsync(CancellationToken.None);
        try
        {
            Set(change.User, change.Connections);
            SendToMembers(SerializeDelta(change.User, change.Connections));
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
        _counts.Clear();
        foreach (var user in online)
        {
            _counts[user.User] = user.Connections;
        }
    }

    private void SendToMembers(byte[] payload)
    {
        foreach (var connection in _members.Values)
        {
            connection.Send(payload, WebSocketMessageType.Text); // a connection closing meanwhile just misses it
        }
    }

    /// <summary>Tells the room the user's connection count now (0: the user left). One payload for everyone, never changed afterwards.</summary>
    private async Task SendDeltaAsync(string user) =>
        await sender.SendToGroupAsync(Room, SerializeDelta(user, _counts.GetValueOrDefault(user)), WebSocketMessageType.Text);

    private void Count(string user, int change) => Set(user, _counts.GetValueOrDefault(user) + change);

    private void Set(string user, int count)
    {
        if (count <= 0)
        {
            _counts.Remove(user);
        }
        else
        {
            _counts[user] = count;
        }
    }

    private static byte[] Serialize(PresenceUser[] users) =>
        JsonSerializer.SerializeToUtf8Bytes(new PresenceMessage(users), ChatJsonContext.Default.PresenceMessage);

    private static byte[] SerializeDelta(string user, int connections) =>
        JsonSerializer.SerializeToUtf8Bytes(new PresenceDeltaMessage([new PresenceUser(user, connections)]), ChatJsonContext.Default.PresenceDeltaMessage);

    /// <summary>The list, ordered by name: this node's room, or the cluster's as last read and changed.</summary>
    private PresenceUser[] Users()
    {
        var users = new PresenceUser[_counts.Count];
        var i = 0;
        foreach (var (name, connections) in _counts)
        {
            users[i++] = new PresenceUser(name, connections);
        }

        return users;
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using System.Text.Json;
using ChatServer.Messages;
using WebSocketPool;

namespace ChatServer;

/// <summary>
/// Who is in the room, with how many connections, and the groups that route chat messages. A connection joins after
/// its <c>hello</c> was queued, so no chat, DM or presence message can overtake the <c>hello</c>. Joins and leaves are
/// serialized: each one updates the counts and queues the new full list to everyone before the next one starts, so
/// every client sees the lists in the order they were made and the last one it gets is the current one.
/// </summary>
internal sealed class ChatPresence(IWebSocketSender sender) : IDisposable
{
    /// <summary>The group of every connection in the room.</summary>
    public const string Room = "room";

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<string, string> _members = new(StringComparer.Ordinal);
    private readonly SortedDictionary<string, int> _counts = new(StringComparer.Ordinal);

    /// <summary>The group of all of one user's connections (names cannot contain ':', so it never clashes with <see cref="Room"/>).</summary>
    public static string UserGroup(string user) => "user:" + user;

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
            _members.Add(connection.ConnectionId, connection.UserKey);
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
            if (!_members.Remove(connectionId, out var user))
            {
                return;
            }

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

    public void Dispose() => _gate.Dispose();

    private async Task BroadcastAsync()
    {
        var users = new PresenceUser[_counts.Count];
        var i = 0;
        foreach (var (name, connections) in _counts)
        {
            users[i++] = new PresenceUser(name, connections);
        }

        // One payload for everyone; the sender queues it without copying, so it is never changed afterwards.
        var payload = JsonSerializer.SerializeToUtf8Bytes(new PresenceMessage(users), ChatJsonContext.Default.PresenceMessage);
        await sender.SendToGroupAsync(Room, payload, WebSocketMessageType.Text);
    }
}

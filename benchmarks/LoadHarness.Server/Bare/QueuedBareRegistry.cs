// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Buffers;
using System.Collections.Concurrent;

namespace LoadHarness.Server.Bare;

/// <summary>
/// The registry of the queued bare server: every connection and each user's connections, as in <see cref="BareRegistry"/>,
/// but a send to a user or to everyone queues on each recipient and returns without waiting for any socket.
/// </summary>
internal sealed class QueuedBareRegistry
{
    private readonly ConcurrentDictionary<QueuedBareConnection, byte> _all = new();
    private readonly ConcurrentDictionary<string, List<QueuedBareConnection>> _users = new(StringComparer.Ordinal);

    public int Count => _all.Count;

    public void Add(QueuedBareConnection connection)
    {
        _all.TryAdd(connection, 0);
        while (true)
        {
            var list = _users.GetOrAdd(connection.User, static _ => new List<QueuedBareConnection>(1));
            lock (list)
            {
                // A list emptied and removed by a racing Remove is dead; take a fresh one.
                if (_users.TryGetValue(connection.User, out var current) && ReferenceEquals(current, list))
                {
                    list.Add(connection);
                    return;
                }
            }
        }
    }

    public void Remove(QueuedBareConnection connection)
    {
        _all.TryRemove(connection, out _);
        if (_users.TryGetValue(connection.User, out var list))
        {
            lock (list)
            {
                list.Remove(connection);
                if (list.Count == 0)
                {
                    _users.TryRemove(new KeyValuePair<string, List<QueuedBareConnection>>(connection.User, list));
                }
            }
        }
    }

    public int SendToUser(string user, ReadOnlyMemory<byte> payload)
    {
        if (!_users.TryGetValue(user, out var list))
        {
            return 0;
        }

        QueuedBareConnection[] recipients;
        int count;
        lock (list)
        {
            count = list.Count;
            recipients = ArrayPool<QueuedBareConnection>.Shared.Rent(Math.Max(count, 1));
            list.CopyTo(recipients);
        }

        try
        {
            var sent = 0;
            for (var i = 0; i < count; i++)
            {
                if (recipients[i].Send(payload))
                {
                    sent++;
                }
            }

            return sent;
        }
        finally
        {
            ArrayPool<QueuedBareConnection>.Shared.Return(recipients, clearArray: true);
        }
    }

    public int Broadcast(ReadOnlyMemory<byte> payload)
    {
        var sent = 0;
        foreach (var (connection, _) in _all)
        {
            if (connection.Send(payload))
            {
                sent++;
            }
        }

        return sent;
    }
}

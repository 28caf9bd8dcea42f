// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Buffers;
using System.Collections.Concurrent;
using System.Net.WebSockets;

namespace LoadHarness.Server.Bare;

/// <summary>
/// The connection registry a hand-written server needs for send-to-user and broadcast: every connection, and each
/// user's connections. Recipients are copied out under a lock and sent to outside it, awaiting each send.
/// </summary>
internal sealed class BareRegistry
{
    private readonly ConcurrentDictionary<BareConnection, byte> _all = new();
    private readonly ConcurrentDictionary<string, List<BareConnection>> _users = new(StringComparer.Ordinal);

    public int Count => _all.Count;

    public void Add(BareConnection connection)
    {
        _all.TryAdd(connection, 0);
        while (true)
        {
            var list = _users.GetOrAdd(connection.User, static _ => new List<BareConnection>(1));
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

    public void Remove(BareConnection connection)
    {
        _all.TryRemove(connection, out _);
        if (_users.TryGetValue(connection.User, out var list))
        {
            lock (list)
            {
                list.Remove(connection);
                if (list.Count == 0)
                {
                    _users.TryRemove(new KeyValuePair<string, List<BareConnection>>(connection.User, list));
                }
            }
        }
    }

    public async Task<int> SendToUserAsync(string user, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        if (!_users.TryGetValue(user, out var list))
        {
            return 0;
        }

        BareConnection[] recipients;
        int count;
        lock (list)
        {
            count = list.Count;
            recipients = ArrayPool<BareConnection>.Shared.Rent(Math.Max(count, 1));
            list.CopyTo(recipients);
        }

        try
        {
            var sent = 0;
            for (var i = 0; i < count; i++)
            {
                if (await recipients[i].SendAsync(payload, WebSocketMessageType.Text, cancellationToken).ConfigureAwait(false))
                {
                    sent++;
                }
            }

            return sent;
        }
        finally
        {
            ArrayPool<BareConnection>.Shared.Return(recipients, clearArray: true);
        }
    }

    public async Task<int> BroadcastAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var sent = 0;
        foreach (var connection in _all.Keys)
        {
            if (await connection.SendAsync(payload, WebSocketMessageType.Text, cancellationToken).ConfigureAwait(false))
            {
                sent++;
            }
        }

        return sent;
    }
}

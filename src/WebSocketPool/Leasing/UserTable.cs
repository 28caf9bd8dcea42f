// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;

namespace WebSocketPool.Internal;

/// <summary>
/// The per-user entries and the node's count. A user's count and every change of the node's count happen under that
/// user's lock, so an audit holding every user's lock sees the node's count stand still. An entry is removed as soon as
/// it holds nothing worth keeping, so memory does not grow with the number of distinct users ever seen.
/// </summary>
internal sealed class UserTable(WebSocketPoolOptions options, TimeProvider timeProvider, SharedUserLimit? shared = null)
{
    private readonly ConcurrentDictionary<string, UserEntry> _users = new(StringComparer.Ordinal);

    // The per-user count at which a user is near its limit (options are fixed once the pool is made).
    private readonly int _nearLimitThreshold = Math.Max(1, (int)Math.Ceiling(options.AlertThreshold * options.MaxConnectionsPerUser));

    private int _nearLimitUsers;

    // Handshakes, open sockets and sockets still closing: what MaxConnections bounds. Every admission and release on
    // every core writes it, so it sits alone on its cache line, away from the fields above that each lease reads.
    private PaddedCounter _active;

    public int Active => (int)Volatile.Read(ref _active.Value);

    /// <summary>Gets the per-user total this pool shares with the other pools of its limit group, if it is in one.</summary>
    public SharedUserLimit? Shared => shared;

    public int NearLimitUsers => Volatile.Read(ref _nearLimitUsers);

    public int Count => _users.Count;

    /// <summary>Gets the entries; enumerating the dictionary itself takes no lock and copies nothing.</summary>
    public ConcurrentDictionary<string, UserEntry> Entries => _users;

    public UserEntry GetOrAdd(string userKey) => _users.GetOrAdd(userKey, static key => new UserEntry(key));

    public bool TryGet(string userKey, out UserEntry entry) => _users.TryGetValue(userKey, out entry!);

    public int GetConnectionCount(string userKey) => _users.TryGetValue(userKey, out var entry) ? Volatile.Read(ref entry.Count) : 0;

    /// <summary>Under a user's lock: takes a place in the node's count unless the cap is reached.</summary>
    public bool TryIncrementActive()
    {
        long max = options.MaxConnections;
        var current = Volatile.Read(ref _active.Value);
        while (current < max)
        {
            var seen = Interlocked.CompareExchange(ref _active.Value, current + 1, current);
            if (seen == current)
            {
                return true;
            }

            current = seen;
        }

        return false;
    }

    /// <summary>Under a user's lock: gives back a place in the node's count.</summary>
    public void DecrementActive() => Interlocked.Decrement(ref _active.Value);

    /// <summary>Sets the node's count to <paramref name="value"/> only if it is still <paramref name="observed"/> (the audit's repair).</summary>
    public bool TryRepairActive(int value, int observed) => Interlocked.CompareExchange(ref _active.Value, value, observed) == observed;

    /// <summary>Test hook: the node's count drifts as a lost release would make it.</summary>
    public void AddToActiveForTesting(int delta) => Interlocked.Add(ref _active.Value, delta);

    /// <summary>Under the entry's lock: removes the entry when it holds nothing worth keeping.</summary>
    public void TryRemove(UserEntry entry)
    {
        if (entry.Count == 0 && entry.Active.Count == 0 && entry.WarmCount == 0
            && entry.ConnectBucket.IsFull(timeProvider, options.ConnectRateLimit, options.ConnectRateBurst)
            && entry.MessageBucket.IsFull(timeProvider, options.MessageRateLimit, options.MessageRateBurst))
        {
            entry.Removed = true;
            _users.TryRemove(new KeyValuePair<string, UserEntry>(entry.UserKey, entry));
            if (entry.NearLimit)
            {
                entry.NearLimit = false;
                Interlocked.Decrement(ref _nearLimitUsers);
            }
        }
    }

    /// <summary>Under the entry's lock: tracks alert-threshold crossings; true when the user just crossed upwards.</summary>
    public bool UpdateNearLimit(UserEntry entry)
    {
        var near = entry.Count >= _nearLimitThreshold;
        if (near == entry.NearLimit)
        {
            return false;
        }

        entry.NearLimit = near;
        Interlocked.Add(ref _nearLimitUsers, near ? 1 : -1);
        return near;
    }
}

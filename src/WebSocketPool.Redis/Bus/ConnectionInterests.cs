// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;

namespace WebSocketPool.Redis.Internal;

/// <summary>
/// What this node must hear because of its own connections: each admitted connection holds a reference on its user's
/// channel from admission (before the upgrade) until its slot is given up, and one on each group channel it is a member
/// of, from the join until it leaves the group or ends. <see cref="ChannelSubscriptions"/> turns the references into
/// subscriptions, so a node hears a user or a group exactly while it holds one of their connections.
/// </summary>
/// <remarks>
/// A join completes only once the node hears the group's channel: a send issued after the join returns reaches the new
/// member, from any node. Joins and leaves of one connection run one at a time; its end (which must not wait) drops
/// whatever it held, and a join that finishes after the end gives its reference straight back.
/// </remarks>
internal sealed class ConnectionInterests(ChannelSubscriptions subscriptions, BusChannels channels, IWebSocketSender local)
{
    private readonly ConcurrentDictionary<string, Tracked> _connections = new(StringComparer.Ordinal);

    /// <summary>Gets how many connections are tracked (admitted or being admitted, not yet ended).</summary>
    public int Count => _connections.Count;

    /// <summary>
    /// A connection is being admitted: takes a reference on its user's channel and completes once the node hears it
    /// (<see langword="false"/> when the subscription failed; the channel is then failing and retried).
    /// </summary>
    public Task<bool> OpenAsync(string connectionId, string userKey)
    {
        var heard = subscriptions.AcquireAsync(channels.User(userKey)); // the reference is taken before this returns
        _connections[connectionId] = new Tracked(userKey);
        return heard;
    }

    /// <summary>The lease gate admitted the connection: its end changes the user's count (and is announced).</summary>
    public void MarkAdmitted(string connectionId)
    {
        if (_connections.TryGetValue(connectionId, out var tracked))
        {
            tracked.Admitted = true;
        }
    }

    /// <summary>
    /// The connection's slot was given up: drops its references at once (never waits). Returns whether the lease gate
    /// had admitted it; <see langword="false"/> as well for an id this node never tracked.
    /// </summary>
    public bool Close(string connectionId)
    {
        if (!_connections.TryRemove(connectionId, out var tracked))
        {
            return false;
        }

        string[] groups;
        lock (tracked)
        {
            tracked.Ended = true;
            groups = tracked.Groups is { Count: > 0 } held ? [.. held] : [];
            tracked.Groups = null;
        }

        subscriptions.Release(channels.User(tracked.UserKey));
        foreach (var group in groups)
        {
            subscriptions.Release(channels.Group(group));
        }

        return tracked.Admitted;
    }

    /// <summary>
    /// Adds a local connection to a group, hearing the group's channel first. <see langword="true"/> when the
    /// connection is open and now a member (as the local sender answers).
    /// </summary>
    public async Task<bool> JoinAsync(string connectionId, string group)
    {
        if (!_connections.TryGetValue(connectionId, out var tracked))
        {
            // Not admitted through the gate (or already ended): membership on this node only, nothing to hear.
            return await local.AddToGroupAsync(connectionId, group).ConfigureAwait(false);
        }

        var serial = tracked.Serial;
        await serial.WaitAsync().ConfigureAwait(false);
        try
        {
            bool member;
            lock (tracked)
            {
                if (tracked.Ended)
                {
                    return false;
                }

                member = tracked.Groups?.Contains(group) == true;
            }

            if (!member)
            {
                await subscriptions.AcquireAsync(channels.Group(group)).ConfigureAwait(false);
            }

            var added = await local.AddToGroupAsync(connectionId, group).ConfigureAwait(false);
            if (!member)
            {
                bool keep;
                lock (tracked)
                {
                    keep = added && !tracked.Ended;
                    if (keep)
                    {
                        (tracked.Groups ??= new HashSet<string>(StringComparer.Ordinal)).Add(group);
                    }
                }

                if (!keep)
                {
                    subscriptions.Release(channels.Group(group));
                }
            }

            return added;
        }
        finally
        {
            serial.Release();
        }
    }

    /// <summary>Removes a local connection from a group; the node stops hearing the group after its last member left.</summary>
    public async Task<bool> LeaveAsync(string connectionId, string group)
    {
        if (!_connections.TryGetValue(connectionId, out var tracked))
        {
            return await local.RemoveFromGroupAsync(connectionId, group).ConfigureAwait(false);
        }

        var serial = tracked.Serial;
        await serial.WaitAsync().ConfigureAwait(false);
        try
        {
            var removed = await local.RemoveFromGroupAsync(connectionId, group).ConfigureAwait(false);
            bool drop;
            lock (tracked)
            {
                drop = !tracked.Ended && tracked.Groups?.Remove(group) == true;
            }

            if (drop)
            {
                subscriptions.Release(channels.Group(group));
            }

            return removed;
        }
        finally
        {
            serial.Release();
        }
    }

    private sealed class Tracked(string userKey)
    {
        private SemaphoreSlim? _serial;

        public string UserKey { get; } = userKey;

        public volatile bool Admitted;

        /// <summary>Under the lock: the slot was given up; nothing may be added any more.</summary>
        public bool Ended { get; set; }

        /// <summary>Under the lock: the groups whose channel this connection holds a reference on.</summary>
        public HashSet<string>? Groups { get; set; }

        /// <summary>Runs this connection's joins and leaves one at a time (made on the first one; no wait handle, nothing to dispose).</summary>
        public SemaphoreSlim Serial => LazyInitializer.EnsureInitialized(ref _serial, static () => new SemaphoreSlim(1, 1));
    }
}

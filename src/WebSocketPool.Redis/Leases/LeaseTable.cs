// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;

namespace WebSocketPool.Redis.Internal;

/// <summary>
/// This node's leases, and the lock under which every script that writes them is issued. Commands issued under the
/// lock reach Redis in that order over the one connection, so a release issued after a re-admission or registration
/// always lands after it: a released lease is never put back.
/// </summary>
internal sealed class LeaseTable
{
    private readonly ConcurrentDictionary<string, LocalLease> _leases = new(StringComparer.Ordinal);

    public Lock IssueLock { get; } = new();

    public int Count => _leases.Count;

    public bool IsEmpty => _leases.IsEmpty;

    public void Add(string connectionId, LocalLease lease) => _leases[connectionId] = lease;

    public bool TryGet(string connectionId, out LocalLease lease) => _leases.TryGetValue(connectionId, out lease!);

    public bool TryRemove(string connectionId, out LocalLease lease) => _leases.TryRemove(connectionId, out lease!);

    /// <summary>Removes the entry only if it is still <paramref name="lease"/>.</summary>
    public bool TryRemove(string connectionId, LocalLease lease) => _leases.TryRemove(new KeyValuePair<string, LocalLease>(connectionId, lease));

    /// <summary>Under <see cref="IssueLock"/>: the leases in <paramref name="state"/>, as (user, id, lease).</summary>
    public List<(string User, string Id, LocalLease Lease)> InState(LeaseState state)
    {
        var found = new List<(string, string, LocalLease)>();
        foreach (var (id, lease) in _leases)
        {
            if (lease.State == state)
            {
                found.Add((lease.UserKey, id, lease));
            }
        }

        return found;
    }

    /// <summary>This node's heartbeat lapsed: Redis may have dropped any of its leases.</summary>
    public void MarkRegisteredAsUnregistered()
    {
        foreach (var lease in _leases.Values)
        {
            if (lease.State == LeaseState.Registered)
            {
                lease.State = LeaseState.Unregistered;
            }
        }
    }

    public IEnumerable<KeyValuePair<string, LocalLease>> All => _leases;
}

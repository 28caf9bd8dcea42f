// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;

namespace WebSocketPool.Benchmarks.Baselines;

/// <summary>
/// The smallest correct admission counter one would write by hand: a global count and a
/// <see cref="ConcurrentDictionary{TKey, TValue}"/> of per-user counts, both updated with compare-and-swap.
/// It leases nothing and keeps a zero entry for every user ever seen; it is the speed floor the pool is held to.
/// </summary>
internal sealed class ConcurrentDictionaryCounterFactory(int maxConnectionsPerUser, int maxConnections)
{
    private readonly ConcurrentDictionary<string, int> _counts = new(StringComparer.Ordinal);
    private int _total;

    public bool TryReserve(string userKey)
    {
        if (Interlocked.Increment(ref _total) > maxConnections)
        {
            Interlocked.Decrement(ref _total);
            return false;
        }

        while (true)
        {
            var current = _counts.GetOrAdd(userKey, 0);
            if (current >= maxConnectionsPerUser)
            {
                Interlocked.Decrement(ref _total);
                return false;
            }

            if (_counts.TryUpdate(userKey, current + 1, current))
            {
                return true;
            }
        }
    }

    public void Release(string userKey)
    {
        while (_counts.TryGetValue(userKey, out var current) && current > 0)
        {
            if (_counts.TryUpdate(userKey, current - 1, current))
            {
                Interlocked.Decrement(ref _total);
                return;
            }
        }
    }
}

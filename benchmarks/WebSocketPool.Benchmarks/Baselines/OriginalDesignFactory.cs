// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;

namespace WebSocketPool.Benchmarks.Baselines;

/// <summary>
/// A re-creation of the design the pool replaces: a new <see cref="LegacyManager"/> per connection, stored in a
/// dictionary keyed by user and connection id (so no manager is ever reused), with managers counted per user. The
/// limit is checked before creation here (the original checked, then created, then swept later); release removes
/// the entry at once, which is the best case for that design: its real release waited for a background sweep.
/// </summary>
internal sealed class OriginalDesignFactory(int maxManagersPerUser)
{
    private readonly ConcurrentDictionary<string, LegacyManager> _managers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _perUser = new(StringComparer.Ordinal);

    public LegacyManager? TryCreate(string userId)
    {
        while (true)
        {
            var count = _perUser.GetOrAdd(userId, 0);
            if (count >= maxManagersPerUser)
            {
                return null;
            }

            if (_perUser.TryUpdate(userId, count + 1, count))
            {
                break;
            }
        }

        var connectionId = Guid.NewGuid().ToString("N");
        var key = string.Concat(userId, ":", connectionId);
        var manager = new LegacyManager(userId, connectionId, key, DateTime.UtcNow);
        _managers[key] = manager;
        return manager;
    }

    public void Release(LegacyManager manager)
    {
        if (!_managers.TryRemove(manager.Key, out _))
        {
            return;
        }

        manager.Dispose();
        while (_perUser.TryGetValue(manager.UserId, out var count) && count > 0)
        {
            if (_perUser.TryUpdate(manager.UserId, count - 1, count))
            {
                return;
            }
        }
    }
}

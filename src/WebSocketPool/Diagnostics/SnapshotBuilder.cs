// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Internal;

/// <summary>Builds the point-in-time <see cref="WebSocketPoolSnapshot"/> behind <c>/stats</c>: counts, top users, refusals.</summary>
internal sealed class SnapshotBuilder(
    WebSocketPoolOptions options,
    UserTable users,
    AdmissionDecider admission,
    AdmissionGateLink gate,
    PoolDrain drain,
    ConnectionLifecycle lifecycle,
    ManagerLeases leases)
{
    /// <summary>The most users a snapshot lists.</summary>
    public const int MaxTop = 1000;

    public WebSocketPoolSnapshot Build(int top)
    {
        top = Math.Clamp(top, 0, MaxTop);
        var heap = new PriorityQueue<UserConnectionCount, int>(top + 1);
        var userCount = 0;
        foreach (var (key, entry) in users.Entries)
        {
            var count = Volatile.Read(ref entry.Count);
            if (count == 0)
            {
                continue;
            }

            userCount++;
            if (top == 0)
            {
                continue;
            }

            if (heap.Count < top)
            {
                heap.Enqueue(new UserConnectionCount(key, count, options.MaxConnectionsPerUser), count);
            }
            else if (heap.TryPeek(out _, out var smallest) && count > smallest)
            {
                heap.EnqueueDequeue(new UserConnectionCount(key, count, options.MaxConnectionsPerUser), count);
            }
        }

        var list = new UserConnectionCount[heap.Count];
        for (var i = list.Length - 1; i >= 0; i--)
        {
            list[i] = heap.Dequeue();
        }

        var rejected = new Dictionary<string, long>(StringComparer.Ordinal);
        for (var i = 0; i < RejectionReasons.All.Count; i++)
        {
            var count = admission.RejectedCount(i);
            if (count == 0 && RejectionReasons.All[i] == RejectionReasons.ClusterUnavailable && !gate.IsAttached)
            {
                // Only a cluster gate gives this reason; a single node reports exactly the nine local reasons.
                continue;
            }

            rejected[RejectionReasons.All[i]] = count;
        }

        return new WebSocketPoolSnapshot
        {
            ActiveConnections = users.Active,
            MaxConnections = options.MaxConnections,
            UserCount = userCount,
            Draining = drain.IsDraining,
            Users = list,
            Rejected = rejected,
            Evicted = lifecycle.Evicted,
            PooledManagers = leases.PooledCount,
            WarmManagers = leases.WarmCount,
        };
    }
}

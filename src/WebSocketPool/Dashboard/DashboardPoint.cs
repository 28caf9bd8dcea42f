// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Internal;

/// <summary>
/// One sample of the dashboard's chart: when (Unix milliseconds), open connections, users, and evictions and refusals
/// since start (refusals in the order of <see cref="RejectionReasons.All"/>).
/// </summary>
internal sealed record DashboardPoint(long Time, int Connections, int Users, long Evicted, long[] Rejected)
{
    public static DashboardPoint Now(PooledWebSocketManagerFactory factory, TimeProvider timeProvider)
    {
        var snapshot = factory.GetSnapshot(0);
        var rejected = new long[RejectionReasons.All.Count];
        for (var i = 0; i < rejected.Length; i++)
        {
            rejected[i] = snapshot.Rejected.TryGetValue(RejectionReasons.All[i], out var count) ? count : 0;
        }

        return new DashboardPoint(timeProvider.GetUtcNow().ToUnixTimeMilliseconds(), snapshot.ActiveConnections, snapshot.UserCount, snapshot.Evicted, rejected);
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Redis;

/// <summary>What admission does while Redis cannot be reached (or does not answer within <see cref="RedisWebSocketPoolOptions.OperationTimeout"/>).</summary>
public enum RedisFailurePolicy
{
    /// <summary>
    /// Admit on this node's own limits alone. Each such admission is logged and counted, the Redis health check reports
    /// Degraded, and the node re-registers its live leases when Redis answers again.
    /// </summary>
    FailOpen = 0,

    /// <summary>Refuse new connections with 503 and <c>Retry-After</c> before the upgrade. Open connections keep working.</summary>
    FailClosed = 1,
}

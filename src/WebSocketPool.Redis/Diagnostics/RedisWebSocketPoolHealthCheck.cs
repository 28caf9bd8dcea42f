// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace WebSocketPool.Redis.Internal;

/// <summary>
/// Healthy while Redis answers and the node hears the bus. Degraded while Redis answers but the node cannot hear the bus
/// (its pub/sub connection is lost, or a subscription failed): cross-node sends to its connections are lost meanwhile.
/// While Redis does not answer: Degraded under <see cref="RedisFailurePolicy.FailOpen"/> (the node serves on its own
/// limits), Unhealthy under <see cref="RedisFailurePolicy.FailClosed"/> (it refuses new connections).
/// </summary>
internal sealed class RedisWebSocketPoolHealthCheck(RedisConnection connection, RedisLeaseGate gate, RedisBus bus, IOptions<RedisWebSocketPoolOptions> options)
    : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var data = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["leases"] = gate.LeaseCount,
            ["pendingReleases"] = gate.PendingReleaseCount,
            ["subscribed"] = bus.IsSubscribed,
            ["failurePolicy"] = options.Value.FailurePolicy.ToString(),
        };

        if (connection.IsAvailable && bus.IsSubscribed)
        {
            return Task.FromResult(HealthCheckResult.Healthy("Redis answers; per-user limits hold across the cluster.", data));
        }

        if (connection.IsAvailable)
        {
            // Limits hold, but cross-node sends to this node's connections are lost until it hears the bus again.
            return Task.FromResult(HealthCheckResult.Degraded("Redis answers but this node cannot hear the bus (pub/sub lost or not subscribed).", data: data));
        }

        return Task.FromResult(options.Value.FailurePolicy == RedisFailurePolicy.FailClosed
            ? HealthCheckResult.Unhealthy("Redis is unavailable: new WebSockets are refused (fail-closed).", data: data)
            : HealthCheckResult.Degraded("Redis is unavailable: per-user limits hold per node only (fail-open).", data: data));
    }
}

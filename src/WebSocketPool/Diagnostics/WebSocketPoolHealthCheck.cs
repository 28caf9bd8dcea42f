// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace WebSocketPool.Internal;

/// <summary>
/// The node's health as operators read it: Healthy; Degraded when the node's connections reach
/// <see cref="WebSocketPoolOptions.AlertThreshold"/> of its own <see cref="WebSocketPoolOptions.MaxConnections"/>, or
/// when the last self-audit found (and repaired) a mismatch; Unhealthy while draining or when the last self-audit left a
/// mismatch unrepaired. A user near their personal limit is that user's matter, not the node's: it is reported (the
/// <c>UserNearLimit</c> event and log, the <c>websocketpool.users_near_limit</c> metric, the data's
/// <c>usersNearLimit</c> and <c>topUsers</c>) but never degrades the node.
/// </summary>
internal sealed class WebSocketPoolHealthCheck(PooledWebSocketManagerFactory factory, WebSocketPoolAuditor auditor) : IHealthCheck
{
    private const int TopUsers = 5;

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var options = factory.Options;
        var active = factory.ActiveConnections;
        var nearLimit = factory.NearLimitUsers;
        var data = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["activeConnections"] = active,
            ["maxConnections"] = options.MaxConnections,
            ["usersNearLimit"] = nearLimit,
            ["draining"] = factory.IsDraining,
            ["auditRunning"] = auditor.IsRunning,
        };

        if (factory.IsDraining)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("The WebSocket pool is draining for shutdown.", data: data));
        }

        if (auditor.LastResult.Unrepaired > 0)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy(
                $"The self-audit found {auditor.LastResult.Unrepaired} mismatches it could not repair.", data: data));
        }

        if (nearLimit > 0)
        {
            var threshold = Math.Max(1, (int)Math.Ceiling(options.AlertThreshold * options.MaxConnectionsPerUser));
            data["topUsers"] = factory.GetSnapshot(TopUsers).Users
                .Where(u => u.Connections >= threshold)
                .Select(u => $"{u.User}:{u.Connections}/{u.Limit}")
                .ToArray();
        }

        var globalThreshold = options.AlertThreshold * options.MaxConnections;
        if (active >= globalThreshold)
        {
            return Task.FromResult(HealthCheckResult.Degraded(
                $"{active} of {options.MaxConnections} connections in use (alert at {options.AlertThreshold:P0}).", data: data));
        }

        if (auditor.LastResult.Mismatches > 0)
        {
            return Task.FromResult(HealthCheckResult.Degraded(
                $"The last self-audit found {auditor.LastResult.Mismatches} mismatches between counted leases and sockets (repaired).", data: data));
        }

        return Task.FromResult(HealthCheckResult.Healthy($"{active} of {options.MaxConnections} connections in use.", data));
    }
}

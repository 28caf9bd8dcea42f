// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace WebSocketPool.Internal;

/// <summary>
/// Healthy; Degraded when the node's connections reach <see cref="WebSocketPoolOptions.AlertThreshold"/> of
/// <see cref="WebSocketPoolOptions.MaxConnections"/> or any user reaches it of the per-user limit; Unhealthy while
/// draining or when the last self-audit left a mismatch unrepaired.
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

        var globalThreshold = options.AlertThreshold * options.MaxConnections;
        if (active >= globalThreshold || nearLimit > 0)
        {
            if (nearLimit > 0)
            {
                var threshold = Math.Max(1, (int)Math.Ceiling(options.AlertThreshold * options.MaxConnectionsPerUser));
                data["topUsers"] = factory.GetSnapshot(TopUsers).Users
                    .Where(u => u.Connections >= threshold)
                    .Select(u => $"{u.User}:{u.Connections}/{u.Limit}")
                    .ToArray();
            }

            var description = active >= globalThreshold
                ? $"{active} of {options.MaxConnections} connections in use (alert at {options.AlertThreshold:P0})."
                : $"{nearLimit} users at or above {options.AlertThreshold:P0} of their connection limit.";
            return Task.FromResult(HealthCheckResult.Degraded(description, data: data));
        }

        return Task.FromResult(HealthCheckResult.Healthy($"{active} of {options.MaxConnections} connections in use.", data));
    }
}

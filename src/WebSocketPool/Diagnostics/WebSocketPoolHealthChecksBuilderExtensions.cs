// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Diagnostics.HealthChecks;
using WebSocketPool.Internal;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds the WebSocket pool's health check.</summary>
public static class WebSocketPoolHealthChecksBuilderExtensions
{
    /// <summary>
    /// Adds a check that is Degraded at the alert threshold of the node's or any user's limit, and Unhealthy while draining
    /// or when the self-audit finds a mismatch it could not repair.
    /// </summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="name">The check's name.</param>
    /// <param name="tags">Tags for filtering checks.</param>
    /// <returns>The builder, for chaining.</returns>
    public static IHealthChecksBuilder AddWebSocketPoolHealthCheck(this IHealthChecksBuilder builder, string name = "websocketpool", IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(name);
        return builder.AddCheck<WebSocketPoolHealthCheck>(name, HealthStatus.Unhealthy, tags ?? []);
    }

    /// <summary>
    /// Adds the same check for the pool named <paramref name="poolName"/> (one mapped with <c>MapWebSocketPool</c>, or
    /// <c>"default"</c>): each pool is its own health entry, Degraded at the alert threshold of its own capacity.
    /// </summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="poolName">The pool's name.</param>
    /// <param name="name">The check's name; <c>websocketpool-{poolName}</c> by default.</param>
    /// <param name="tags">Tags for filtering checks.</param>
    /// <returns>The builder, for chaining.</returns>
    public static IHealthChecksBuilder AddNamedWebSocketPoolHealthCheck(this IHealthChecksBuilder builder, string poolName, string? name = null, IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(poolName);
        return builder.Add(new HealthCheckRegistration(
            name ?? "websocketpool-" + poolName,
            sp =>
            {
                // The pool is mapped after services are registered; it is looked up when the check first runs.
                var pool = sp.GetRequiredService<WebSocketPoolRegistry>().Get(poolName);
                return new WebSocketPoolHealthCheck(pool.Factory, pool.Auditor);
            },
            HealthStatus.Unhealthy,
            tags ?? []));
    }
}

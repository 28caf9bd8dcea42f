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
}

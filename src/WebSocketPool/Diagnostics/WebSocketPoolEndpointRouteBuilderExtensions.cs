// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using WebSocketPool;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps the pool's snapshot as a JSON endpoint.</summary>
public static class WebSocketPoolEndpointRouteBuilderExtensions
{
    /// <summary>The most users <c>?top=</c> may ask for; larger values are clamped, not refused.</summary>
    public const int MaxTopUsers = 1000;

    /// <summary>
    /// Maps <c>GET <paramref name="pattern"/></c> to the pool snapshot as camelCase JSON; <c>?top=N</c> lists the top N users
    /// (default 100, clamped to 0–1000). The snapshot names users: protect the endpoint (authorization, loopback only).
    /// </summary>
    /// <param name="endpoints">The endpoint route builder.</param>
    /// <param name="pattern">The route pattern.</param>
    /// <returns>A builder to add conventions such as authorization.</returns>
    public static IEndpointConventionBuilder MapWebSocketPoolStats(this IEndpointRouteBuilder endpoints, string pattern = "/stats")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrEmpty(pattern);
        return endpoints.MapGet(pattern, static (HttpContext context) =>
        {
            var top = 100;
            if (context.Request.Query.TryGetValue("top", out var value)
                && int.TryParse(value, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var parsed))
            {
                top = Math.Clamp(parsed, 0, MaxTopUsers);
            }

            var factory = context.RequestServices.GetRequiredService<PooledWebSocketManagerFactory>();
            return TypedResults.Json(factory.GetSnapshot(top));
        });
    }
}

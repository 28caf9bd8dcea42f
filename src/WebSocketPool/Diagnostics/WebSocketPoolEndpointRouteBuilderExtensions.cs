// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using WebSocketPool.Internal;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps the pool's snapshot as a JSON endpoint.</summary>
public static class WebSocketPoolEndpointRouteBuilderExtensions
{
    /// <summary>The most users <c>?top=</c> may ask for; larger values are clamped, not refused.</summary>
    public const int MaxTopUsers = 1000;

    /// <summary>
    /// Maps <c>GET <paramref name="pattern"/></c> to the pool snapshot as camelCase JSON (<c>Cache-Control: no-store</c>);
    /// <c>?top=N</c> lists the top N users (default 100, clamped to 0–1000); <c>?pool=NAME</c> answers for a named pool
    /// (<c>MapWebSocketPool</c>) instead of the default one, and an unknown name gets 404 with a problem body. The snapshot names users, so the endpoint is
    /// safe by default: it answers only loopback callers (<see cref="LoopbackEndpointConventionBuilderExtensions.RequireLoopback"/>;
    /// others, and requests without a remote address, get 404) until the app attaches its own authorization to it
    /// (<c>.RequireAuthorization("ops")</c>), or opens it on purpose with <c>.AllowAnonymous()</c>.
    /// </summary>
    /// <param name="endpoints">The endpoint route builder.</param>
    /// <param name="pattern">The route pattern.</param>
    /// <returns>A builder to add conventions such as authorization.</returns>
    public static IEndpointConventionBuilder MapWebSocketPoolStats(this IEndpointRouteBuilder endpoints, string pattern = "/stats")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrEmpty(pattern);
        return endpoints.MapGet(pattern, static IResult (HttpContext context) =>
        {
            var top = 100;
            if (context.Request.Query.TryGetValue("top", out var value)
                && int.TryParse(value, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var parsed))
            {
                top = Math.Clamp(parsed, 0, MaxTopUsers);
            }

            var pools = context.RequestServices.GetRequiredService<WebSocketPoolRegistry>();
            var name = context.Request.Query["pool"].ToString();
            context.Response.Headers.CacheControl = "no-store";
            if (name.Length == 0)
            {
                return TypedResults.Json(pools.Default.Factory.GetSnapshot(top));
            }

            return pools.TryGet(name, out var pool)
                ? TypedResults.Json(pool.Factory.GetSnapshot(top))
                : TypedResults.Problem(
                    statusCode: StatusCodes.Status404NotFound,
                    title: "Unknown pool",
                    detail: $"No WebSocket pool is named '{(name.Length > 64 ? name[..64] + "..." : name)}'.");
        }).RequireLoopback();
    }
}

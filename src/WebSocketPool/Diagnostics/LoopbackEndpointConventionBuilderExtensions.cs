// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Keeps operational endpoints (stats, health, metrics) to callers on this machine unless the app decides otherwise.</summary>
public static class LoopbackEndpointConventionBuilderExtensions
{
    /// <summary>
    /// Lets the endpoint answer only callers whose remote address is loopback; others get 404, as if the route did not
    /// exist. A request without a remote address (a Unix socket behind a proxy) is not loopback. The rule steps aside
    /// when the app attaches its own decision to the endpoint: authorization (<c>RequireAuthorization</c>,
    /// <c>[Authorize]</c>) or explicit anonymous access (<c>AllowAnonymous</c>). Behind a reverse proxy the remote address
    /// is the proxy's unless <c>UseForwardedHeaders</c> runs first.
    /// </summary>
    /// <typeparam name="TBuilder">The endpoint convention builder.</typeparam>
    /// <param name="builder">The endpoint, or group of endpoints.</param>
    /// <returns>The builder, for chaining.</returns>
    public static TBuilder RequireLoopback<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Add(static endpoint =>
        {
            var inner = endpoint.RequestDelegate!;
            endpoint.RequestDelegate = context =>
            {
                if (IsAllowed(context))
                {
                    return inner(context);
                }

                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            };
        });
        return builder;
    }

    private static bool IsAllowed(HttpContext context)
    {
        // The metadata is read per request, so conventions added after this one (RequireAuthorization) count.
        if (context.GetEndpoint()?.Metadata is { } metadata
            && (metadata.GetMetadata<IAuthorizeData>() is not null
                || metadata.GetMetadata<AuthorizationPolicy>() is not null
                || metadata.GetMetadata<IAllowAnonymous>() is not null))
        {
            return true;
        }

        return context.Connection.RemoteIpAddress is { } remote && IPAddress.IsLoopback(remote);
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;

namespace WebSocketPool.Samples;

/// <summary>
/// Lets operational endpoints (<c>/stats</c>, <c>/health</c>) answer only loopback callers, unless the configuration
/// key <c>Diagnostics:AllowRemote</c> is true. Other callers get 404, as if the route did not exist.
/// </summary>
internal static class LoopbackOnlyConventions
{
    public static TBuilder RequireLoopbackUnlessConfigured<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder
    {
        builder.Add(static endpoint =>
        {
            var inner = endpoint.RequestDelegate!;
            endpoint.RequestDelegate = context =>
            {
                var remote = context.Connection.RemoteIpAddress;
                var allowRemote = context.RequestServices.GetRequiredService<IConfiguration>().GetValue<bool>("Diagnostics:AllowRemote");
                if (allowRemote || remote is null || IPAddress.IsLoopback(remote))
                {
                    return inner(context);
                }

                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            };
        });
        return builder;
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.AspNetCore.Authorization;

namespace WebSocketPool.Samples;

/// <summary>
/// Lets operational endpoints (<c>/stats</c>, <c>/health</c>) answer only loopback callers, through the library's
/// <c>RequireLoopback()</c>, unless the configuration key <c>Diagnostics:AllowRemote</c> is true: then the endpoint is
/// opened on purpose (<c>AllowAnonymous</c>). Other callers get 404, as if the route did not exist; a request without a
/// remote address (a Unix socket behind a proxy) is not loopback.
/// </summary>
internal static class LoopbackOnlyConventions
{
    public static TBuilder RequireLoopbackUnlessConfigured<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder
    {
        builder.RequireLoopback();
        builder.Add(static endpoint =>
        {
            if (endpoint.ApplicationServices.GetRequiredService<IConfiguration>().GetValue<bool>("Diagnostics:AllowRemote"))
            {
                endpoint.Metadata.Add(new AllowAnonymousAttribute());
            }
        });
        return builder;
    }
}

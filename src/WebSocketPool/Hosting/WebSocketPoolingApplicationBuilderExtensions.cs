// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using WebSocketPool;
using WebSocketPool.Internal;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Adds the WebSocket pool to the request pipeline.</summary>
public static class WebSocketPoolingApplicationBuilderExtensions
{
    /// <summary>
    /// Serves pooled WebSockets on <see cref="WebSocketPoolOptions.Path"/>. Call it after <c>UseAuthentication()</c>
    /// (the user decides the limits) and before endpoints. It switches on ASP.NET Core's WebSockets support itself.
    /// </summary>
    /// <param name="app">The application builder.</param>
    /// <returns>The application builder, for chaining.</returns>
    /// <exception cref="InvalidOperationException"><c>AddWebSocketPooling()</c> was not called.</exception>
    public static IApplicationBuilder UseWebSocketPooling(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        if (app.ApplicationServices.GetService<IServiceProviderIsService>() is { } check
            && !check.IsService(typeof(PooledWebSocketManagerFactory)))
        {
            throw new InvalidOperationException("Call 'services.AddWebSocketPooling()' before 'app.UseWebSocketPooling()'.");
        }

        // Keep-alive is set per socket from the pool's options (WebSocketAcceptContext). Origins are checked by the
        // pool itself, so that a refusal is counted and answered with problem+json like every other.
        var options = app.ApplicationServices.GetRequiredService<IOptions<WebSocketPoolOptions>>().Value;
        app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = options.KeepAliveInterval });
        return app.UseMiddleware<WebSocketPoolingMiddleware>();
    }
}

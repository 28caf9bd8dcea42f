// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.DependencyInjection;
using Microsoft.AspNetCore.Http;
using WebSocketPool;
using WebSocketPool.Internal;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Adds the WebSocket pool to the request pipeline.</summary>
public static class WebSocketPoolingApplicationBuilderExtensions
{
    /// <summary>
    /// Serves the default pool on <see cref="WebSocketPoolOptions.Path"/>: the one-pool shorthand of
    /// <c>app.MapWebSocketPool&lt;THandler&gt;(path)</c>, with the handler registered by <c>AddHandler</c>. Call it after
    /// <c>UseAuthentication()</c> (the user decides the limits) and before endpoints. It switches on ASP.NET Core's
    /// WebSockets support itself.
    /// </summary>
    /// <param name="app">The application builder.</param>
    /// <returns>The application builder, for chaining.</returns>
    /// <exception cref="InvalidOperationException"><c>AddWebSocketPooling()</c> was not called, or the default pool is already served.</exception>
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
        var services = app.ApplicationServices;
        var pool = services.GetRequiredService<WebSocketPoolRegistry>().Default;
        pool.Serve(services.GetRequiredService<WebSocketHandler>(), "UseWebSocketPooling()");
        app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = pool.Options.KeepAliveInterval });
        var path = new PathString(pool.Options.Path);
        return app.Use(next => new WebSocketPoolingMiddleware(next, pool, path, services).InvokeAsync);
    }
}

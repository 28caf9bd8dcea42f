// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using WebSocketPool;
using WebSocketPool.Internal;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps WebSocket pools as endpoints, the way <c>MapHub</c> maps hubs.</summary>
public static partial class WebSocketPoolingEndpointRouteBuilderExtensions
{
    private static readonly string[] s_methods = [HttpMethods.Get, HttpMethods.Head, HttpMethods.Connect];

    /// <summary>
    /// Serves the default pool (options from <c>AddWebSocketPooling</c> and the <c>WebSocketPool</c> section) at
    /// <paramref name="pattern"/>, with <typeparamref name="THandler"/> for its connections. See
    /// <see cref="MapWebSocketPool{THandler}(IEndpointRouteBuilder, string, string, Action{WebSocketPoolOptions}?)"/>.
    /// </summary>
    /// <typeparam name="THandler">The connections' handler: the registered service of that type, else one instance created for the pool.</typeparam>
    /// <param name="endpoints">The endpoint route builder, or a route group.</param>
    /// <param name="pattern">The route pattern; its route values reach the user-key resolver and the handler (<see cref="WebSocketConnection.RouteValues"/>).</param>
    /// <returns>A builder for the endpoint's conventions.</returns>
    /// <exception cref="InvalidOperationException"><c>AddWebSocketPooling()</c> was not called, or the default pool is already served.</exception>
    public static WebSocketPoolEndpointConventionBuilder MapWebSocketPool<THandler>(this IEndpointRouteBuilder endpoints, [StringSyntax("Route")] string pattern)
        where THandler : WebSocketHandler
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrEmpty(pattern);
        return Map<THandler>(endpoints, pattern, WebSocketPoolOptions.DefaultPoolName, configure: null);
    }

    /// <summary>
    /// Serves the pool named <paramref name="poolName"/> at <paramref name="pattern"/> (GET and HEAD: HTTP/1.1 upgrades and
    /// the admission preview; CONNECT: WebSockets over HTTP/2), with <typeparamref name="THandler"/> for its connections.
    /// The pool has its own limits, counts, metrics tag (<c>websocketpool.pool</c>), snapshot, health check and sender
    /// (<c>[FromKeyedServices("name")] IWebSocketSender</c>). Its options are the shared ones (the <c>WebSocketPool</c>
    /// section and <c>AddWebSocketPooling</c>'s callback), then the section <c>WebSocketPool:Pools:{name}</c> (an unknown
    /// key is an error), then <paramref name="configure"/>; they are validated now, so a bad value stops the app before it
    /// serves. <see cref="WebSocketPoolOptions.Path"/> does not apply: the route decides.
    /// </summary>
    /// <remarks>
    /// Endpoint conventions run before the pool's own checks: an authorization policy answers as the app's
    /// authentication scheme does (a cookie scheme redirects to its login page unless the app overrides its events), and
    /// <c>RequireRateLimiting</c> answers 503 unless the app sets <c>RateLimiterOptions.RejectionStatusCode</c>. After them
    /// the pool's checks keep their order and answers. <c>RequireCors</c> does not stop a WebSocket handshake (browsers
    /// send no preflight for it); the pool's <see cref="WebSocketPoolOptions.AllowedOrigins"/> does.
    /// </remarks>
    /// <typeparam name="THandler">The connections' handler: the registered service of that type, else one instance created for the pool.</typeparam>
    /// <param name="endpoints">The endpoint route builder, or a route group.</param>
    /// <param name="pattern">The route pattern; its route values reach the user-key resolver and the handler (<see cref="WebSocketConnection.RouteValues"/>).</param>
    /// <param name="poolName">The pool's name: 1 to 64 letters, digits, '_', '-' or '.', unique in the app; not <see cref="WebSocketPoolOptions.DefaultPoolName"/>.</param>
    /// <param name="configure">Changes the pool's options after configuration has been bound.</param>
    /// <returns>A builder for the endpoint's conventions.</returns>
    /// <exception cref="ArgumentException">The name is empty, not a valid pool name, or the default pool's.</exception>
    /// <exception cref="InvalidOperationException"><c>AddWebSocketPooling()</c> was not called, or a pool of that name is already mapped.</exception>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">The pool's options are not valid.</exception>
    public static WebSocketPoolEndpointConventionBuilder MapWebSocketPool<THandler>(
        this IEndpointRouteBuilder endpoints, [StringSyntax("Route")] string pattern, string poolName, Action<WebSocketPoolOptions>? configure = null)
        where THandler : WebSocketHandler
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrEmpty(pattern);
        ArgumentException.ThrowIfNullOrEmpty(poolName);
        if (string.Equals(poolName, WebSocketPoolOptions.DefaultPoolName, StringComparison.OrdinalIgnoreCase))
        {
            throw new ArgumentException(
                $"'{WebSocketPoolOptions.DefaultPoolName}' is the default pool's name: map it with MapWebSocketPool<THandler>(pattern), and configure it with AddWebSocketPooling and the 'WebSocketPool' section.",
                nameof(poolName));
        }

        if (!PoolNamePattern().IsMatch(poolName))
        {
            throw new ArgumentException(
                $"'{poolName}' is not a valid pool name: use 1 to 64 letters, digits, '_', '-' or '.' (the name appears in configuration keys, metrics and Redis keys).",
                nameof(poolName));
        }

        return Map<THandler>(endpoints, pattern, poolName, configure);
    }

    private static WebSocketPoolEndpointConventionBuilder Map<THandler>(
        IEndpointRouteBuilder endpoints, string pattern, string poolName, Action<WebSocketPoolOptions>? configure)
        where THandler : WebSocketHandler
    {
        var services = endpoints.ServiceProvider;
        if (services.GetService<IServiceProviderIsService>() is { } check && !check.IsService(typeof(WebSocketPoolRegistry)))
        {
            throw new InvalidOperationException("Call 'services.AddWebSocketPooling()' before 'app.MapWebSocketPool<THandler>(...)'.");
        }

        var registry = services.GetRequiredService<WebSocketPoolRegistry>();
        var pool = configure is null && poolName == WebSocketPoolOptions.DefaultPoolName ? registry.Default : registry.Create(poolName, configure);
        pool.Serve(ActivatorUtilities.GetServiceOrCreateInstance<THandler>(services), $"MapWebSocketPool(\"{pattern}\")");

        // The endpoint's own little pipeline, as SignalR's MapHub builds one: WebSockets support switched on for it alone
        // (keep-alive is set per socket from the pool's options), then the pool.
        var pipeline = endpoints.CreateApplicationBuilder();
        pipeline.UseWebSockets(new WebSocketOptions { KeepAliveInterval = pool.Options.KeepAliveInterval });
        pipeline.Run(new WebSocketPoolingMiddleware(MethodNotAllowed, pool, path: null, services).InvokeAsync);
        var builder = endpoints.MapMethods(pattern, s_methods, pipeline.Build())
            .WithDisplayName($"WebSocket pool '{poolName}' {pattern}");
        return new WebSocketPoolEndpointConventionBuilder(builder, poolName);
    }

    /// <summary>A CONNECT that is not a WebSocket (another extended-CONNECT protocol, or a tunnel) has nothing here.</summary>
    private static Task MethodNotAllowed(HttpContext context)
    {
        context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
        return Task.CompletedTask;
    }

    [GeneratedRegex("^[A-Za-z0-9_.-]{1,64}$", RegexOptions.CultureInvariant)]
    private static partial Regex PoolNamePattern();
}

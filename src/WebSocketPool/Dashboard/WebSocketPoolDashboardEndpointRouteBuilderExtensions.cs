// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using WebSocketPool;
using WebSocketPool.Internal;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps the pool's dashboard: a live page for operators, shipped inside the package.</summary>
public static class WebSocketPoolDashboardEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps the dashboard under <paramref name="prefix"/>: <c>GET prefix</c> is the page (its script, style and chart are
    /// the package's own, with a Content-Security-Policy that allows nothing else), <c>GET prefix/data</c> the JSON it
    /// polls, <c>POST prefix/kick</c> the kick button. The page shows open connections, users and refusals by reason
    /// over <see cref="WebSocketPoolDashboardOptions.History"/> (sampled on the server, so a reload keeps the chart), the
    /// users nearest their limit, refusals and evictions since start, and the pool's health. The page names users, so
    /// it is safe by default: it answers only loopback callers (others get 404) until the app attaches its own
    /// authorization (<c>.RequireAuthorization("ops")</c>) to the returned builder.
    /// </summary>
    /// <param name="endpoints">The endpoint route builder.</param>
    /// <param name="prefix">Where the dashboard lives, for example <c>/admin/websockets</c>.</param>
    /// <param name="configure">Changes the options (history, sample interval, kick).</param>
    /// <returns>A builder for the dashboard's endpoints, to add conventions such as authorization.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An interval is out of its range.</exception>
    /// <exception cref="InvalidOperationException">The pool (<see cref="WebSocketPoolDashboardOptions.Pool"/>) or, with the kick button, antiforgery is not registered.</exception>
    public static IEndpointConventionBuilder MapWebSocketPoolDashboard(
        this IEndpointRouteBuilder endpoints, string prefix = "/admin/websockets", Action<WebSocketPoolDashboardOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        var options = new WebSocketPoolDashboardOptions();
        configure?.Invoke(options);
        DashboardHistory.Validate(options);

        var services = endpoints.ServiceProvider;
        if (services.GetService<PooledWebSocketManagerFactory>() is null)
        {
            throw new InvalidOperationException("Call 'services.AddWebSocketPooling()' before 'MapWebSocketPoolDashboard'.");
        }

        if (options.AllowKick && services.GetService<IAntiforgery>() is null)
        {
            throw new InvalidOperationException(
                "The dashboard's kick button posts with an antiforgery token: call 'services.AddAntiforgery()', or set AllowKick to false.");
        }

        var registry = services.GetRequiredService<WebSocketPoolRegistry>();
        var pool = string.IsNullOrEmpty(options.Pool) ? registry.Default
            : registry.TryGet(options.Pool, out var named) ? named
            : throw new InvalidOperationException(
                $"No WebSocket pool is named '{options.Pool}': map it with MapWebSocketPool<THandler>(pattern, \"{options.Pool}\") before its dashboard.");
        var history = DashboardHistory.For(pool, services);
        history.Start(options.SampleInterval, options.History);
        var dashboard = new DashboardEndpoints(prefix.TrimEnd('/'), pool, options, history);

        var group = endpoints.MapGroup(prefix);
        group.MapGet("/", dashboard.PageAsync);
        group.MapGet("/dashboard.js", DashboardEndpoints.ScriptAsync);
        group.MapGet("/dashboard.css", DashboardEndpoints.StyleAsync);
        group.MapGet("/icon.svg", DashboardEndpoints.IconAsync);
        group.MapGet("/data", dashboard.DataAsync);
        if (options.AllowKick)
        {
            // The kick policy is checked in the handler, not attached as metadata: metadata would lift the loopback rule
            // from this one endpoint.
            group.MapPost("/kick", dashboard.KickAsync);
        }

        return group.RequireLoopback();
    }
}

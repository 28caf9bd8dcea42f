// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Logging;

namespace WebSocketPool.Internal;

/// <summary>
/// Ties the pools (the default one and every named one) to the host's lifetime. When the application starts stopping, new upgrades are refused (503) and every
/// socket gets 1001 at once, so that Kestrel's own shutdown finds no request left hanging; stopping then waits for the
/// drain (at most <see cref="WebSocketPoolOptions.ShutdownTimeout"/>, then aborts). It also starts the self-audit, and
/// warns at start when no handler is registered (connections would be accepted and their messages silently ignored).
/// </summary>
/// <remarks>
/// The drain is awaited in <see cref="StoppingAsync"/>, which the host runs before any hosted service's
/// <see cref="IHostedService.StopAsync"/>. The web server stops listening in its own StopAsync, and the pool's service is
/// registered before it (so it would stop after it); draining any later would close the listener while sockets are still
/// closing, and a client arriving then would get a refused TCP connection instead of the documented 503 <c>draining</c>.
/// </remarks>
internal sealed class WebSocketPoolHostedService(
    WebSocketPoolRegistry pools,
    IHostApplicationLifetime lifetime,
    ILogger<PooledWebSocketManagerFactory> logger) : IHostedLifecycleService
{
    private CancellationTokenRegistration _stopping;
    private Task? _drain;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // Every pool is mapped by now (routes are built before the host starts): a configured pool that is not is a typo.
        pools.ThrowIfConfiguredPoolIsNotMapped();
        _stopping = lifetime.ApplicationStopping.Register(static s => ((WebSocketPoolHostedService)s!).StartDrain(), this);
        var defaultPool = pools.Default;
        if ((defaultPool.Handler ?? DefaultHandler()) is NoOpWebSocketHandler && (defaultPool.IsServed || pools.Named.Count == 0))
        {
            SafeDiagnostics.Run(static (l, path) => PoolLog.NoHandlerRegistered(l, path), logger, defaultPool.Options.Path);
        }

        WarnIfPoolsExceedKestrel(defaultPool);
        foreach (var pool in pools.All)
        {
            pool.Auditor.Start();
            if (pool.ScaleOut is { } scaleOut)
            {
                await scaleOut.StartAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Drains while the web server still listens, so newcomers meanwhile are answered 503 <c>draining</c>.</summary>
    public Task StoppingAsync(CancellationToken cancellationToken) => DrainAsync(cancellationToken);

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        // Already done by StoppingAsync under a host; a host that never called it (or a direct caller) still drains.
        await DrainAsync(cancellationToken).ConfigureAwait(false);
        await _stopping.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>A named pool's scale-out gives up what it holds once the pool has drained, as the default pool's does.</summary>
    public async Task StoppedAsync(CancellationToken cancellationToken)
    {
        foreach (var pool in pools.Named)
        {
            if (pool.ScaleOut is { } scaleOut)
            {
                await scaleOut.StoppedAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Kestrel's upgraded-connection limit is sized before the pools are mapped; say so if they outgrew it.</summary>
    private void WarnIfPoolsExceedKestrel(WebSocketPoolInstance defaultPool)
    {
        if (pools.Named.Count == 0
            || (pools.Services.GetService(typeof(IOptions<KestrelServerOptions>)) as IOptions<KestrelServerOptions>)?.Value.Limits.MaxConcurrentUpgradedConnections is not { } upgraded)
        {
            return;
        }

        var total = pools.Named.Sum(static p => (long)p.Options.MaxConnections) + (defaultPool.IsServed ? defaultPool.Options.MaxConnections : 0);
        if (total > upgraded)
        {
            SafeDiagnostics.Run(static (l, s) => PoolLog.PoolsAboveUpgradedLimit(l, s.total, s.upgraded), logger, (total, upgraded));
        }
    }

    private WebSocketHandler DefaultHandler() => (WebSocketHandler)pools.Services.GetService(typeof(WebSocketHandler))!;

    private async Task DrainAsync(CancellationToken cancellationToken)
    {
        foreach (var pool in pools.All)
        {
            pool.Auditor.Stop();
        }

        StartDrain();
        await _drain!.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private void StartDrain()
    {
        lock (this)
        {
            _drain ??= Task.WhenAll(pools.All.Select(static p => p.Factory.DrainAsync()));
        }
    }
}

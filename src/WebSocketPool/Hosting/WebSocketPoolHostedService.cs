// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace WebSocketPool.Internal;

/// <summary>
/// Ties the pool to the host's lifetime. When the application starts stopping, new upgrades are refused (503) and every
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
    PooledWebSocketManagerFactory factory,
    WebSocketPoolAuditor auditor,
    IHostApplicationLifetime lifetime,
    WebSocketHandler handler,
    ILogger<PooledWebSocketManagerFactory> logger) : IHostedLifecycleService
{
    private CancellationTokenRegistration _stopping;
    private Task? _drain;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _stopping = lifetime.ApplicationStopping.Register(static s => ((WebSocketPoolHostedService)s!).StartDrain(), this);
        auditor.Start();
        if (handler is NoOpWebSocketHandler)
        {
            SafeDiagnostics.Run(static (l, path) => PoolLog.NoHandlerRegistered(l, path), logger, factory.Options.Path);
        }

        return Task.CompletedTask;
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

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private async Task DrainAsync(CancellationToken cancellationToken)
    {
        auditor.Stop();
        StartDrain();
        await _drain!.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private void StartDrain()
    {
        lock (this)
        {
            _drain ??= factory.DrainAsync();
        }
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Hosting;

namespace WebSocketPool.Internal;

/// <summary>
/// Ties the pool to the host's lifetime. When the application starts stopping, new upgrades are refused (503) and every
/// socket gets 1001 at once, so that Kestrel's own shutdown finds no request left hanging; stopping then waits for the
/// drain (at most <see cref="WebSocketPoolOptions.ShutdownTimeout"/>, then aborts). It also starts the self-audit.
/// </summary>
internal sealed class WebSocketPoolHostedService(
    PooledWebSocketManagerFactory factory,
    WebSocketPoolAuditor auditor,
    IHostApplicationLifetime lifetime) : IHostedService
{
    private CancellationTokenRegistration _stopping;
    private Task? _drain;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _stopping = lifetime.ApplicationStopping.Register(static s => ((WebSocketPoolHostedService)s!).StartDrain(), this);
        auditor.Start();
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        auditor.Stop();
        StartDrain();
        await _drain!.WaitAsync(cancellationToken).ConfigureAwait(false);
        await _stopping.DisposeAsync().ConfigureAwait(false);
    }

    private void StartDrain()
    {
        lock (this)
        {
            _drain ??= factory.DrainAsync();
        }
    }
}

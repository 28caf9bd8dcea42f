// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Logging;

namespace WebSocketPool.Internal;

/// <summary>
/// Shutdown: refuse new connections (503 <c>draining</c>), send 1001 to every open socket (and to any accepted while
/// the drain began), wait up to <see cref="WebSocketPoolOptions.ShutdownTimeout"/> for them to close, then abort the
/// rest and wait briefly for their release. The drain completes when the registry is empty.
/// </summary>
internal sealed class PoolDrain(WebSocketPoolOptions options, TimeProvider timeProvider, ConnectionRegistry registry, ILogger logger)
{
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _draining;

    public bool IsDraining => _draining;

    /// <summary>Gets the Retry-After of a refusal while draining: a little longer than the drain itself.</summary>
    public TimeSpan RetryAfter => options.ShutdownTimeout + TimeSpan.FromSeconds(1);

    public void Begin()
    {
        if (_draining)
        {
            return;
        }

        _draining = true;
        SafeDiagnostics.Run(static (l, count) => PoolLog.DrainStarted(l, count), logger, registry.Count);
        foreach (var (_, manager) in registry.Open)
        {
            manager.RequestClose(manager.Generation, WebSocketCloseCodes.GoingAway, "Server shutting down.", DisconnectReason.Shutdown, discardPending: false);
        }

        SignalIfDrained();
    }

    public async Task DrainAsync(CancellationToken cancellationToken)
    {
        Begin();
        var started = timeProvider.GetTimestamp();
        if (!await WaitAsync(options.ShutdownTimeout, cancellationToken).ConfigureAwait(false))
        {
            var left = registry.Count;
            foreach (var (_, manager) in registry.Open)
            {
                manager.AbortCurrent(DisconnectReason.Shutdown);
            }

            SafeDiagnostics.Run(static (l, count) => PoolLog.DrainAborted(l, count), logger, left);
            await WaitAsync(TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false);
        }

        var elapsed = timeProvider.GetElapsedTime(started).TotalMilliseconds;
        SafeDiagnostics.Run(static (l, state) => PoolLog.DrainFinished(l, state.elapsed, state.left), logger, (elapsed, left: registry.Count));
    }

    /// <summary>A socket left the registry: completes the drain once the last one has.</summary>
    public void SignalIfDrained()
    {
        if (_draining && registry.IsEmpty)
        {
            _drained.TrySetResult();
        }
    }

    /// <summary>A socket accepted while the drain began gets its 1001 like every other.</summary>
    public void CloseIfDraining(IsolatedWebSocketManager manager, long generation)
    {
        if (_draining)
        {
            manager.RequestClose(generation, WebSocketCloseCodes.GoingAway, "Server shutting down.", DisconnectReason.Shutdown, discardPending: false);
        }
    }

    private async Task<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (_drained.Task.IsCompleted)
        {
            return true;
        }

        try
        {
            await _drained.Task.WaitAsync(timeout, timeProvider, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
        catch (OperationCanceledException)
        {
            return _drained.Task.IsCompleted;
        }
    }
}

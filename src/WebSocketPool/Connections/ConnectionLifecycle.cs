// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Logging;

namespace WebSocketPool.Internal;

/// <summary>
/// What the pool does when an accepted socket opens and when it ends, and what a connection reports on the way
/// (handler failures, slow consumers, send timeouts). The end is the one way out of an accepted connection: it is called
/// from the <c>finally</c> of the connection's run and releases through <see cref="SlotLedger"/>.
/// </summary>
internal sealed class ConnectionLifecycle(
    WebSocketPoolOptions options,
    TimeProvider timeProvider,
    ConnectionRegistry registry,
    SlotLedger ledger,
    ManagerLeases leases,
    AdmissionGateLink gate,
    PoolDrain drain,
    WebSocketPoolMetrics metrics,
    ILogger logger)
{
    private readonly WebSocketPoolMetrics _metrics = metrics;
    private readonly ILogger _logger = logger;
    private long _evicted;

    public long Evicted => Interlocked.Read(ref _evicted);

    /// <summary>
    /// Registers an accepted socket's manager: now reachable for sends and counted as open. A slot it pledged passes to
    /// it now, and the victim is closed, unless the request was already aborted (an upgrade can complete on a connection
    /// the client has just dropped): then the pledge is withdrawn and the victim lives on. Called inside the connection's
    /// run, so whatever happens after, it ends through <see cref="EndAsync"/>.
    /// </summary>
    public void Opened(IsolatedWebSocketManager manager, long generation, CancellationToken requestAborted)
    {
        manager.MarkConnected(timeProvider.GetTimestamp(), timeProvider.GetUtcNow());
        registry.Add(manager);
        if (requestAborted.IsCancellationRequested)
        {
            ledger.ReleaseUserSlot(manager, generation);
        }
        else
        {
            KeepPledge(manager, generation);
        }

        SafeDiagnostics.Run(static (l, m) => PoolLog.Connected(l, m.GetConnectionId()), _logger, manager);
        drain.CloseIfDraining(manager, generation);
    }

    /// <summary>
    /// The end of an accepted connection, once its socket has ended. In this order, each step in a <c>finally</c> of the
    /// one before, so that no exception (a handler, a logging provider) can skip a later one: the slots are released and
    /// the connection leaves the registry and its groups; the drain hears of it; the handler's
    /// <see cref="WebSocketHandler.OnDisconnectedAsync"/> runs (the handle's <see cref="WebSocketConnection.Items"/> still
    /// usable); the connection's DI scope is disposed; the lease ends and the manager goes warm or to the pool.
    /// </summary>
    public async Task EndAsync(
        IsolatedWebSocketManager manager, long generation, WebSocketConnection connection, WebSocketDisconnect disconnect, WebSocketHandler? handler)
    {
        try
        {
            try
            {
                try
                {
                    manager.MarkEnded();
                    ledger.ReleaseAll(manager, generation);
                }
                finally
                {
                    drain.SignalIfDrained();
                }

                SafeDiagnostics.Run(static (self, state) => self.ReportEnded(state.manager, state.disconnect, state.connection), this, (manager, disconnect, connection));
            }
            finally
            {
                if (handler is not null)
                {
                    try
                    {
                        await handler.OnDisconnectedAsync(connection, disconnect).ConfigureAwait(false);
                    }
#pragma warning disable CA1031 // A handler's failure must not escape into the server.
                    catch (Exception ex)
#pragma warning restore CA1031
                    {
                        HandlerFailed(connection, ex);
                    }
                }
            }
        }
        finally
        {
            try
            {
                // The connection's DI scope (if the app used one) ends after OnDisconnectedAsync, before the lease does.
                await manager.DisposeScopeAsync(generation).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // A scoped service that fails to dispose must not cost the release of the lease.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                HandlerFailed(connection, ex);
            }
            finally
            {
                leases.Return(manager, generation);
            }
        }
    }

    /// <summary>The gate admitted <paramref name="connection"/> in place of another connection: evict that one now.</summary>
    public ValueTask EvictThroughGateAsync(WebSocketConnection connection, string victimConnectionId, CancellationToken cancellationToken) =>
        gate.EvictAsync(connection, victimConnectionId, cancellationToken);

    public void HandlerFailed(WebSocketConnection connection, Exception exception) =>
        SafeDiagnostics.Run(static (l, state) => PoolLog.HandlerFailed(l, state.ConnectionId, state.exception), _logger, (connection.ConnectionId, exception));

    public void SlowConsumer(IsolatedWebSocketManager manager) => SafeDiagnostics.Run(static (self, m) =>
    {
        self._metrics.SlowConsumerDisconnected();
        PoolLog.SlowConsumer(self._logger, m.ConnectionId ?? string.Empty);
    }, this, manager);

    public void MessageAssemblyTimedOut(IsolatedWebSocketManager manager) => SafeDiagnostics.Run(static (self, m) =>
    {
        self._metrics.MessageAssemblyTimedOut();
        PoolLog.MessageAssemblyTimeout(self._logger, m.ConnectionId ?? string.Empty);
    }, this, manager);

    public void AuthenticationExpired(IsolatedWebSocketManager manager) => SafeDiagnostics.Run(static (self, m) =>
    {
        self._metrics.AuthenticationExpired();
        PoolLog.AuthenticationExpired(self._logger, m.ConnectionId ?? string.Empty);
    }, this, manager);

    public void SendTimedOut(IsolatedWebSocketManager manager) => SafeDiagnostics.Run(static (self, m) =>
    {
        self._metrics.SendTimedOut();
        PoolLog.SendTimedOut(self._logger, m.ConnectionId ?? string.Empty);
    }, this, manager);

    public void SessionHeld(IsolatedWebSocketManager manager, DisconnectReason reason) => SafeDiagnostics.Run(static (self, state) =>
    {
        self._metrics.SessionHeld();
        PoolLog.SessionHeld(self._logger, state.manager.ConnectionId ?? string.Empty, state.reason);
    }, this, (manager, reason));

    public void SessionResumed(IsolatedWebSocketManager manager, int replayed) => SafeDiagnostics.Run(static (self, state) =>
    {
        self._metrics.SessionResumed(state.replayed);
        PoolLog.SessionResumed(self._logger, state.manager.ConnectionId ?? string.Empty, state.replayed);
    }, this, (manager, replayed));

    public void SessionEnded(IsolatedWebSocketManager manager, string outcome) => SafeDiagnostics.Run(static (self, state) =>
    {
        self._metrics.SessionEnded(state.outcome);
        PoolLog.SessionExpired(self._logger, state.manager.ConnectionId ?? string.Empty, state.outcome);
    }, this, (manager, outcome));

    public void ResumeRefused(string why) => SafeDiagnostics.Run(static (self, w) =>
    {
        self._metrics.ResumeRefused();
        PoolLog.ResumeRefused(self._logger, w);
    }, this, why);

    /// <summary>Reports a failure that a background path (a timer, a write loop) caught instead of letting it escape.</summary>
    public void UnexpectedFailure(string where, Exception exception) =>
        SafeDiagnostics.Run(static (l, state) => PoolLog.UnexpectedFailure(l, state.where, state.exception), _logger, (where, exception));

    public void MessageDropped() => SafeDiagnostics.Run(static (m, _) => m.MessageDropped(), _metrics, 0);

    /// <summary>The per-user message rate limit, shared by all the user's connections.</summary>
    public bool TryAcquireMessageToken(IsolatedWebSocketManager manager)
    {
        if (options.MessageRateLimit <= 0 || manager.Entry is not { } entry)
        {
            return true;
        }

        lock (entry)
        {
            return entry.MessageBucket.TryTake(timeProvider, options.MessageRateLimit, options.MessageRateBurst, out _);
        }
    }

    /// <summary>
    /// The admitted connection's socket has been accepted: a slot it pledged (EvictOldest) now passes to it, and the
    /// victim is closed with 4001. Until this moment nothing was evicted, so a refused gate or a failed handshake costs
    /// no one a connection.
    /// </summary>
    private void KeepPledge(IsolatedWebSocketManager manager, long generation)
    {
        if (manager.Entry is not { } entry)
        {
            return;
        }

        IsolatedWebSocketManager? victim;
        long victimGeneration;
        long victimNumber;
        lock (entry)
        {
            victim = ledger.KeepPledgeLocked(entry, manager, generation, out victimGeneration, out victimNumber);
        }

        if (victim is null)
        {
            return;
        }

        Interlocked.Increment(ref _evicted);
        gate.Release(entry.UserKey, victimNumber);

        // Counted and logged before the close goes out, so whoever sees the 4001 can already find the eviction recorded.
        SafeDiagnostics.Run(static (self, id) =>
        {
            self._metrics.Evicted();
            PoolLog.Evicted(self._logger, id);
        }, this, registry.FormatConnectionId(victimNumber));
        victim.RequestClose(victimGeneration, WebSocketCloseCodes.Evicted, CloseArguments.EvictedReason, DisconnectReason.Evicted, discardPending: true);
    }

    private void ReportEnded(IsolatedWebSocketManager manager, WebSocketDisconnect disconnect, WebSocketConnection connection)
    {
        var connectionId = connection.ConnectionId;
        var duration = timeProvider.GetElapsedTime(manager.ConnectedTimestamp);
        _metrics.ConnectionEnded(duration, disconnect.Reason);
        WebSocketPoolTracing.ConnectionEnded(connection, disconnect, duration);
        if (disconnect.Reason == DisconnectReason.KeepAliveTimeout)
        {
            PoolLog.KeepAliveTimeout(_logger, connectionId);
        }

        PoolLog.Disconnected(_logger, connectionId, disconnect.Reason, disconnect.CloseCode);
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics.Metrics;

namespace WebSocketPool.Internal;

/// <summary>
/// One pool's view of the instruments on the meter <c>WebSocketPool</c>, created through <see cref="IMeterFactory"/>
/// (which owns and disposes it). Every measurement carries the pool's name (<see cref="PoolTag"/>), so several pools in
/// one app share the instruments and stay apart by tag. Tags come from small fixed sets; no instrument is ever tagged
/// with a user.
/// </summary>
internal sealed class WebSocketPoolMetrics
{
    public const string MeterName = "WebSocketPool";
    public const string ReasonTag = "websocketpool.rejection.reason";
    public const string DisconnectReasonTag = "websocketpool.disconnect.reason";
    public const string PoolTag = "websocketpool.pool";

    private static readonly string[] s_disconnectReasons = CreateDisconnectReasonNames();

    private readonly Meter _meter;
    private readonly KeyValuePair<string, object?> _pool;
    private readonly List<PooledWebSocketManagerFactory> _observed;
    private readonly Counter<long> _rejected;
    private readonly Counter<long> _evicted;
    private readonly Counter<long> _kicked;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _messagesReceived;
    private readonly Counter<long> _messagesSent;
    private readonly Counter<long> _bytesReceived;
    private readonly Counter<long> _bytesSent;
    private readonly Counter<long> _dropped;
    private readonly Counter<long> _slowConsumers;
    private readonly Counter<long> _sendTimeouts;
    private readonly Counter<long> _tooBig;
    private readonly Counter<long> _auditMismatches;
    private readonly Counter<long> _assemblyTimeouts;
    private readonly Counter<long> _authenticationExpired;
    private readonly UpDownCounter<long> _resumeHeld;
    private readonly Counter<long> _resumed;
    private readonly Counter<long> _resumeExpired;
    private readonly Counter<long> _resumeRefused;
    private readonly Counter<long> _resumeReplayed;

    /// <summary>Creates the instruments, for the default pool; <see cref="ForPool"/> gives other pools their view.</summary>
    public WebSocketPoolMetrics(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        _pool = new(PoolTag, WebSocketPoolOptions.DefaultPoolName);
        _observed = [];
        _meter = meterFactory.Create(MeterName);
        _rejected = _meter.CreateCounter<long>("websocketpool.rejected_connections", "{connection}", "WebSocket requests refused before the upgrade, by reason.");
        _evicted = _meter.CreateCounter<long>("websocketpool.evicted_connections", "{connection}", "Connections closed with 4001 to make room for a newer connection of the same user.");
        _kicked = _meter.CreateCounter<long>("websocketpool.kicked_connections", "{connection}", "Connections closed by the server through a kick.");
        _duration = _meter.CreateHistogram<double>("websocketpool.connection.duration", "s", "How long connections stayed open, by how they ended.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.1, 1, 10, 60, 300, 1800, 3600, 14400, 86400] });
        _messagesReceived = _meter.CreateCounter<long>("websocketpool.messages.received", "{message}", "Complete messages received from clients.");
        _messagesSent = _meter.CreateCounter<long>("websocketpool.messages.sent", "{message}", "Messages written to clients.");
        _bytesReceived = _meter.CreateCounter<long>("websocketpool.bytes.received", "By", "Payload bytes received from clients.");
        _bytesSent = _meter.CreateCounter<long>("websocketpool.bytes.sent", "By", "Payload bytes written to clients.");
        _dropped = _meter.CreateCounter<long>("websocketpool.send_queue.dropped", "{message}", "Queued messages dropped by the DropOldest slow-consumer policy.");
        _slowConsumers = _meter.CreateCounter<long>("websocketpool.slow_consumer_disconnects", "{connection}", "Connections closed with 4002 because their send queue overflowed.");
        _sendTimeouts = _meter.CreateCounter<long>("websocketpool.send_timeouts", "{connection}", "Connections aborted because a send or close exceeded the send timeout.");
        _tooBig = _meter.CreateCounter<long>("websocketpool.oversized_messages", "{message}", "Incoming messages over MaxMessageBytes (closed with 1009).");
        _auditMismatches = _meter.CreateCounter<long>("websocketpool.audit.mismatches", "{mismatch}", "Differences the self-audit found between counted leases and live sockets.");
        _assemblyTimeouts = _meter.CreateCounter<long>("websocketpool.message_assembly_timeouts", "{connection}", "Connections closed with 1008 because a message stayed incomplete past MessageAssemblyTimeout.");
        _authenticationExpired = _meter.CreateCounter<long>("websocketpool.authentication_expirations", "{connection}", "Connections closed with 4005 because their authentication expired.");
        _resumeHeld = _meter.CreateUpDownCounter<long>("websocketpool.resume.held_sessions", "{session}", "Sessions of dropped connections held for a resume.");
        _resumed = _meter.CreateCounter<long>("websocketpool.resume.resumed", "{session}", "Held sessions resumed by their client.");
        _resumeExpired = _meter.CreateCounter<long>("websocketpool.resume.expired", "{session}", "Held sessions ended without a resume, by outcome (expired or overflowed).");
        _resumeRefused = _meter.CreateCounter<long>("websocketpool.resume.refused", "{connection}", "Reconnects answered with 4004 because their session cannot be resumed.");
        _resumeReplayed = _meter.CreateCounter<long>("websocketpool.resume.replayed_messages", "{message}", "Messages replayed to resumed sessions.");
    }

    private WebSocketPoolMetrics(WebSocketPoolMetrics shared, string pool)
    {
        _pool = new(PoolTag, pool);
        _observed = shared._observed;
        _meter = shared._meter;
        _rejected = shared._rejected;
        _evicted = shared._evicted;
        _kicked = shared._kicked;
        _duration = shared._duration;
        _messagesReceived = shared._messagesReceived;
        _messagesSent = shared._messagesSent;
        _bytesReceived = shared._bytesReceived;
        _bytesSent = shared._bytesSent;
        _dropped = shared._dropped;
        _slowConsumers = shared._slowConsumers;
        _sendTimeouts = shared._sendTimeouts;
        _tooBig = shared._tooBig;
        _auditMismatches = shared._auditMismatches;
        _assemblyTimeouts = shared._assemblyTimeouts;
        _authenticationExpired = shared._authenticationExpired;
        _resumeHeld = shared._resumeHeld;
        _resumed = shared._resumed;
        _resumeExpired = shared._resumeExpired;
        _resumeRefused = shared._resumeRefused;
        _resumeReplayed = shared._resumeReplayed;
    }

    /// <summary>Gets the pool name every measurement of this view is tagged with.</summary>
    public string Pool => (string)_pool.Value!;

    /// <summary>The same instruments, tagged with another pool's name.</summary>
    public WebSocketPoolMetrics ForPool(string pool) => new(this, pool);

    /// <summary>
    /// Registers a pool's factory with the gauges that read live state. The gauges are created with the first factory and
    /// report one measurement per registered factory, tagged with its pool.
    /// </summary>
    public void Observe(PooledWebSocketManagerFactory factory)
    {
        bool first;
        lock (_observed)
        {
            if (_observed.Contains(factory))
            {
                return;
            }

            first = _observed.Count == 0;
            _observed.Add(factory);
        }

        if (!first)
        {
            return;
        }

        _meter.CreateObservableUpDownCounter("websocketpool.active_connections", () => Read(static f => f.ActiveConnections), "{connection}",
            "Connections counted against the limits (open sockets and handshakes in progress).");
        _meter.CreateObservableUpDownCounter("websocketpool.pooled_managers", () => Read(static f => f.PooledCount), "{manager}",
            "Reset managers waiting in the shared pool.");
        _meter.CreateObservableUpDownCounter("websocketpool.warm_managers", () => Read(static f => f.WarmCount), "{manager}",
            "Freed managers kept warm for their users during the reuse window.");
        _meter.CreateObservableUpDownCounter("websocketpool.users_near_limit", () => Read(static f => f.NearLimitUsers), "{user}",
            "Users at or above the alert threshold of the per-user limit.");
    }

    public void Rejected(string reason)
    {
        if (_rejected.Enabled)
        {
            _rejected.Add(1, new KeyValuePair<string, object?>(ReasonTag, reason), _pool);
        }
    }

    public void Evicted() => _evicted.Add(1, _pool);

    public void Kicked() => _kicked.Add(1, _pool);

    public void ConnectionEnded(TimeSpan duration, DisconnectReason reason)
    {
        if (_duration.Enabled)
        {
            _duration.Record(duration.TotalSeconds, new KeyValuePair<string, object?>(DisconnectReasonTag, s_disconnectReasons[(int)reason]), _pool);
        }
    }

    /// <summary>The tag value (and span tag) naming how a connection ended.</summary>
    public static string DisconnectReasonName(DisconnectReason reason) =>
        (uint)reason < (uint)s_disconnectReasons.Length && s_disconnectReasons[(int)reason] is { } name ? name : "other";

    public void MessageReceived(int bytes)
    {
        _messagesReceived.Add(1, _pool);
        _bytesReceived.Add(bytes, _pool);
    }

    public void MessageSent(int bytes)
    {
        _messagesSent.Add(1, _pool);
        _bytesSent.Add(bytes, _pool);
    }

    public void MessageDropped() => _dropped.Add(1, _pool);

    public void SlowConsumerDisconnected() => _slowConsumers.Add(1, _pool);

    public void SendTimedOut() => _sendTimeouts.Add(1, _pool);

    public void MessageTooBig() => _tooBig.Add(1, _pool);

    public void AuditMismatches(int count) => _auditMismatches.Add(count, _pool);

    public void MessageAssemblyTimedOut() => _assemblyTimeouts.Add(1, _pool);

    public void AuthenticationExpired() => _authenticationExpired.Add(1, _pool);

    public void SessionHeld() => _resumeHeld.Add(1, _pool);

    /// <summary>A held session was resumed, with <paramref name="replayed"/> messages replayed.</summary>
    public void SessionResumed(int replayed)
    {
        _resumeHeld.Add(-1, _pool);
        _resumed.Add(1, _pool);
        if (replayed > 0)
        {
            _resumeReplayed.Add(replayed, _pool);
        }
    }

    /// <summary>A held session ended without a resume: <c>expired</c>, <c>overflowed</c> or <c>closed</c> (a kick, the shutdown).</summary>
    public void SessionEnded(string outcome)
    {
        _resumeHeld.Add(-1, _pool);
        _resumeExpired.Add(1, _pool, new KeyValuePair<string, object?>("websocketpool.resume.outcome", outcome));
    }

    public void ResumeRefused() => _resumeRefused.Add(1, _pool);

    private List<Measurement<int>> Read(Func<PooledWebSocketManagerFactory, int> read)
    {
        lock (_observed)
        {
            var measurements = new List<Measurement<int>>(_observed.Count);
            foreach (var factory in _observed)
            {
                measurements.Add(new Measurement<int>(read(factory), new KeyValuePair<string, object?>(PoolTag, factory.Metrics.Pool)));
            }

            return measurements;
        }
    }

    private static string[] CreateDisconnectReasonNames()
    {
        var values = Enum.GetValues<DisconnectReason>();
        var names = new string[values.Max(v => (int)v) + 1];
        foreach (var value in values)
        {
            names[(int)value] = value switch
            {
                DisconnectReason.ClientClosed => "client_closed",
                DisconnectReason.ServerClosed => "server_closed",
                DisconnectReason.Aborted => "aborted",
                DisconnectReason.KeepAliveTimeout => "keep_alive_timeout",
                DisconnectReason.Evicted => "evicted",
                DisconnectReason.Kicked => "kicked",
                DisconnectReason.SlowConsumer => "slow_consumer",
                DisconnectReason.Shutdown => "shutdown",
                DisconnectReason.HandlerError => "handler_error",
                DisconnectReason.MessageTooBig => "message_too_big",
                DisconnectReason.ProtocolError => "protocol_error",
                DisconnectReason.PolicyViolation => "policy_violation",
                DisconnectReason.MessageAssemblyTimeout => "message_assembly_timeout",
                DisconnectReason.AuthenticationExpired => "authentication_expired",
                _ => "other",
            };
        }

        return names;
    }
}

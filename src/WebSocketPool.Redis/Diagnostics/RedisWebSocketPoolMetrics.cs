// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics.Metrics;

namespace WebSocketPool.Redis.Internal;

/// <summary>
/// The scale-out's instruments, on the pool's meter <c>WebSocketPool</c> (created through <see cref="IMeterFactory"/>,
/// which owns it). Tags come from a small fixed set; nothing is tagged with a user.
/// </summary>
internal sealed class RedisWebSocketPoolMetrics
{
    public const string MeterName = "WebSocketPool";
    public const string OperationTag = "websocketpool.redis.operation";
    public const string ChannelTag = "websocketpool.redis.bus.channel";
    public const string RestoredByTag = "websocketpool.redis.bus.restored_by";
    public const string ActionTag = "websocketpool.redis.bus.action";

    private readonly Meter _meter;
    private readonly Counter<long> _errors;
    private readonly Counter<long> _failOpen;
    private readonly Counter<long> _failClosed;
    private readonly Counter<long> _published;
    private readonly Counter<long> _received;
    private readonly Counter<long> _remoteEvictions;
    private readonly Counter<long> _malformed;
    private readonly Counter<long> _circuitOpened;
    private readonly Counter<long> _shortCircuited;
    private readonly Counter<long> _lapses;
    private readonly Counter<long> _readmissionRefusals;
    private readonly Counter<long> _dataLosses;
    private bool _observingCircuit;
    private readonly Counter<long> _publishedBytes;
    private readonly Counter<long> _receivedBytes;
    private readonly Counter<long> _publishRejected;
    private readonly Counter<long> _resubscriptions;
    private readonly Counter<long> _subscriptionChanges;
    private bool _observing;
    private bool _observingBus;

    public RedisWebSocketPoolMetrics(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        _meter = meterFactory.Create(MeterName);
        _errors = _meter.CreateCounter<long>("websocketpool.redis.errors", "{operation}", "Redis operations that failed or timed out, by operation.");
        _failOpen = _meter.CreateCounter<long>("websocketpool.redis.fail_open_admissions", "{connection}", "Connections admitted on node-local limits alone because Redis was unavailable.");
        _failClosed = _meter.CreateCounter<long>("websocketpool.redis.fail_closed_refusals", "{connection}", "Connections refused with 503 because Redis was unavailable.");
        _published = _meter.CreateCounter<long>("websocketpool.redis.messages.published", "{message}", "Messages published to other nodes.");
        _received = _meter.CreateCounter<long>("websocketpool.redis.messages.received", "{message}", "Messages received from other nodes.");
        _malformed = _meter.CreateCounter<long>("websocketpool.redis.messages.malformed", "{message}", "Messages from other nodes that were ignored as malformed (undecodable, or an out-of-range close code or reason).");
        _publishedBytes = _meter.CreateCounter<long>("websocketpool.redis.bus.published_bytes", "By", "Bytes published to other nodes.");
        _receivedBytes = _meter.CreateCounter<long>("websocketpool.redis.bus.received_bytes", "By", "Bytes this node received from the bus, by kind of channel (all, node, user, group, presence).");
        _publishRejected = _meter.CreateCounter<long>("websocketpool.redis.publish.rejected", "{message}", "Publications refused at once because MaxInFlightPublishes were waiting for Redis.");
        _resubscriptions = _meter.CreateCounter<long>("websocketpool.redis.bus.resubscriptions", "{recovery}", "Times this node heard the bus again after losing its subscription connection: restored by the Redis client and checked, or subscribed again by the node.");
        _subscriptionChanges = _meter.CreateCounter<long>("websocketpool.redis.bus.subscription_changes", "{channel}", "Channels this node subscribed or unsubscribed as its users, groups and presence watchers came and went.");
        _remoteEvictions = _meter.CreateCounter<long>("websocketpool.redis.cluster_evictions", "{connection}", "Leases evicted cluster-wide by EvictOldest (closed with 4001 on their node).");
        _circuitOpened = _meter.CreateCounter<long>("websocketpool.redis.circuit.opened", "{event}", "Times the circuit in front of Redis opened after repeated failures.");
        _shortCircuited = _meter.CreateCounter<long>("websocketpool.redis.circuit.short_circuited", "{operation}", "Admissions, previews and presence queries answered without asking Redis because the circuit was open.");
        _lapses = _meter.CreateCounter<long>("websocketpool.redis.heartbeat.lapses", "{event}", "Times this node found its heartbeat had lapsed (a pause or partition longer than LeaseTtl) and re-admitted its connections.");
        _readmissionRefusals = _meter.CreateCounter<long>("websocketpool.redis.readmission_refusals", "{connection}", "Open connections closed with 4001 because their re-admission found the user at the limit.");
        _dataLosses = _meter.CreateCounter<long>("websocketpool.redis.epoch_changes", "{event}", "Times Redis was found to have lost its data (a new epoch) and this node put its leases back.");
    }

    public void Observe(Func<int> leases, Func<bool> available)
    {
        if (_observing)
        {
            return;
        }

        _observing = true;
        _meter.CreateObservableGauge("websocketpool.redis.leases", leases, "{connection}", "Leases this node holds (and renews) in Redis.");
        _meter.CreateObservableGauge("websocketpool.redis.available", () => available() ? 1 : 0, "{state}", "1 while Redis answers, 0 while the failure policy is in force.");
    }

    public void ObserveCircuit(Func<bool> open)
    {
        if (_observingCircuit)
        {
            return;
        }

        _observingCircuit = true;
        _meter.CreateObservableGauge("websocketpool.redis.circuit.open", () => open() ? 1 : 0, "{state}", "1 while the circuit in front of Redis is open.");
    }

    public void CircuitOpened() => _circuitOpened.Add(1);

    public void ShortCircuited() => _shortCircuited.Add(1);

    public void HeartbeatLapsed() => _lapses.Add(1);

    public void ReadmissionRefused(int count) => _readmissionRefusals.Add(count);

    public void EpochChanged() => _dataLosses.Add(1);

    public void ObserveBus(Func<bool> listening, Func<int> channels, Func<int> inFlight)
    {
        if (_observingBus)
        {
            return;
        }

        _observingBus = true;
        _meter.CreateObservableGauge("websocketpool.redis.bus.listening", () => listening() ? 1 : 0, "{state}", "1 while this node hears the bus (subscribed, every wanted channel held), 0 while cross-node sends to it are lost.");
        _meter.CreateObservableGauge("websocketpool.redis.bus.channels", channels, "{channel}", "Bus channels this node is subscribed to.");
        _meter.CreateObservableGauge("websocketpool.redis.publish.in_flight", inFlight, "{message}", "Publications waiting for Redis's answer (at most MaxInFlightPublishes).");
    }

    public void Published(int bytes)
    {
        _published.Add(1);
        _publishedBytes.Add(bytes);
    }

    public void Received(string channelKind, int bytes) =>
        _receivedBytes.Add(bytes, new KeyValuePair<string, object?>(ChannelTag, channelKind));

    public void PublishRejected() => _publishRejected.Add(1);

    public void Resubscribed(string by) => _resubscriptions.Add(1, new KeyValuePair<string, object?>(RestoredByTag, by));

    public void SubscriptionChanged(string action) => _subscriptionChanges.Add(1, new KeyValuePair<string, object?>(ActionTag, action));

    public void Error(string operation) => _errors.Add(1, new KeyValuePair<string, object?>(OperationTag, operation));

    public void FailOpenAdmission() => _failOpen.Add(1);

    public void FailClosedRefusal() => _failClosed.Add(1);

    public void Received() => _received.Add(1);

    public void ClusterEviction() => _remoteEvictions.Add(1);

    public void Malformed() => _malformed.Add(1);
}

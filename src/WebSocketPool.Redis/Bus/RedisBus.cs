// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace WebSocketPool.Redis.Internal;

/// <summary>
/// Pub/sub between nodes, routed by interest (see <see cref="BusChannels"/>): a node hears everyone's channel, its own,
/// and the user, group and presence channels its connections and watchers need. Each node delivers a message once, to
/// its own matching connections, and ignores its own publications. Redis pub/sub delivers at most once: a node cut off
/// from Redis misses what was published meanwhile.
/// </summary>
/// <remarks>
/// <para>
/// <b>Listening.</b> The two channels every node hears are subscribed all or nothing: if one fails, the other is
/// unsubscribed again and both are retried on the next renewal tick (a half-subscribed node would otherwise subscribe
/// the first one twice, and deliver twice). The node <see cref="IsListening">listens</see> while both are held, every
/// wanted channel is subscribed, and the subscription connection is up.
/// </para>
/// <para>
/// <b>Losing the pub/sub connection.</b> The multiplexer reports it (<c>ConnectionFailed</c>, subscription connection):
/// the node stops listening, which health (Degraded) and the <c>websocketpool.redis.bus.listening</c> gauge show. When
/// the connection is back (<c>ConnectionRestored</c>), StackExchange.Redis subscribes its channels again by itself; the
/// node checks that with a probe to its own channel and, if the probe is not heard, subscribes every channel afresh.
/// </para>
/// </remarks>
internal sealed partial class RedisBus : IDisposable
{
    private readonly RedisConnection _connection;
    private readonly BusPublisher _publisher;
    private readonly RedisWebSocketPoolMetrics _metrics;
    private readonly RedisWebSocketPoolOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _ensureLock = new(1, 1);
    private volatile bool _baseSubscribed;
    private volatile bool _lost;

    public RedisBus(
        RedisConnection connection,
        RedisLocalSender local,
        BusPublisher publisher,
        PresenceFeed presence,
        RedisWebSocketPoolMetrics metrics,
        IOptions<RedisWebSocketPoolOptions> options,
        TimeProvider timeProvider,
        ILogger<RedisBus> logger)
    {
        _connection = connection;
        _publisher = publisher;
        _metrics = metrics;
        _options = options.Value;
        _timeProvider = timeProvider;
        _logger = logger;
        NodeId = connection.NodeId;
        Channels = new BusChannels(connection.Keys, NodeId);
        var receiver = new BusReceiver(this, local.Inner, presence, metrics, logger);
        var subscriber = new RedisChannelSubscriber(connection, metrics, _options.OperationTimeout, timeProvider, receiver.OnMessageAsync);
        Subscriptions = new ChannelSubscriptions(subscriber, (channel, ex) => OnSubscribeFailed(ex));
        Interests = new ConnectionInterests(Subscriptions, Channels, local.Inner);
        Probe = new BusProbe(connection, Channels, _options.OperationTimeout, timeProvider);
        connection.SubscriptionLost += OnSubscriptionLost;
        connection.SubscriptionRestored += OnSubscriptionRestored;
        metrics.ObserveBus(() => IsListening, () => Subscriptions.SubscribedCount, () => publisher.InFlight);
    }

    public string NodeId { get; }

    public BusChannels Channels { get; }

    public ChannelSubscriptions Subscriptions { get; }

    public ConnectionInterests Interests { get; }

    public GroupAcks Acks { get; } = new();

    public BusProbe Probe { get; }

    public BusPublisher Publisher => _publisher;

    /// <summary>Gets how long a connection-targeted request or a group change waits for Redis or the other node.</summary>
    public TimeSpan OperationTimeout => _options.OperationTimeout;

    /// <summary>Gets whether this node hears the bus: both base channels and every wanted channel held, and no known loss.</summary>
    public bool IsListening => _baseSubscribed && !_lost && Subscriptions.FailingCount == 0;

    /// <summary>Same as <see cref="IsListening"/> (the health check's word for it).</summary>
    public bool IsSubscribed => IsListening;

    public void Dispose()
    {
        _connection.SubscriptionLost -= OnSubscriptionLost;
        _connection.SubscriptionRestored -= OnSubscriptionRestored;
        _ensureLock.Dispose();
    }

    /// <summary>
    /// Called at start and on every renewal tick: subscribes the base channels (all or nothing), recovers after a lost
    /// subscription connection, and retries channels whose subscription failed. A call while another runs returns at once.
    /// </summary>
    public Task EnsureSubscribedAsync() => EnsureAsync(wait: false);

    /// <summary>Publishes without waiting; <see langword="false"/> when the message was not handed to Redis (counted and logged).</summary>
    public bool Publish(string channel, BusMessage message) => _publisher.TryPublish(channel, message.Encode());

    /// <summary>Publishes to one node and waits for Redis to answer how many subscribers got it (0 on failure or when refused).</summary>
    public Task<long> PublishToNodeAsync(string nodeId, BusMessage message, CancellationToken cancellationToken) =>
        _publisher.PublishAsync(Channels.Node(nodeId), message.Encode(), _options.OperationTimeout, _timeProvider, cancellationToken);

    private async Task EnsureAsync(bool wait)
    {
        if (wait)
        {
            await _ensureLock.WaitAsync().ConfigureAwait(false);
        }
        else if (!await _ensureLock.WaitAsync(0).ConfigureAwait(false))
        {
            return;
        }

        try
        {
            if (_connection.Multiplexer is not { IsConnected: true } multiplexer)
            {
                return;
            }

            if (!_baseSubscribed)
            {
                await SubscribeBaseAsync().ConfigureAwait(false);
            }
            else if (_lost)
            {
                await RecoverAsync(multiplexer).ConfigureAwait(false);
            }
            else if (Subscriptions.FailingCount > 0 && await Subscriptions.ReconcileAllAsync(force: false).ConfigureAwait(false))
            {
                Log.Listening(_logger, Subscriptions.SubscribedCount);
            }
        }
        finally
        {
            _ensureLock.Release();
        }
    }

    private async Task SubscribeBaseAsync()
    {
        var all = Subscriptions.AcquireAsync(Channels.All);
        var own = Subscriptions.AcquireAsync(Channels.Own);
        var allHeard = await all.ConfigureAwait(false);
        var ownHeard = await own.ConfigureAwait(false);
        if (!allHeard || !ownHeard)
        {
            // All or nothing: a node that hears only one of the two would subscribe that one again on the next try.
            Subscriptions.Release(Channels.All);
            Subscriptions.Release(Channels.Own);
            return;
        }

        _baseSubscribed = true;
        _lost = false; // fresh subscriptions: whatever was lost before is held now
        if (Subscriptions.FailingCount > 0)
        {
            await Subscriptions.ReconcileAllAsync(force: false).ConfigureAwait(false);
        }

        Log.Listening(_logger, Subscriptions.SubscribedCount);
    }

    private async Task RecoverAsync(IConnectionMultiplexer multiplexer)
    {
        if (!multiplexer.GetSubscriber().IsConnected(RedisChannel.Literal(Channels.Own)))
        {
            return; // the pub/sub connection is not back yet
        }

        // StackExchange.Redis subscribes its channels again after a reconnect: check it rather than trust it (twice, as the
        // probe can reach Redis on the interactive connection just before the client's own subscribe does).
        if (await Probe.RunAsync().ConfigureAwait(false) || await Probe.RunAsync().ConfigureAwait(false))
        {
            if (Subscriptions.FailingCount == 0 || await Subscriptions.ReconcileAllAsync(force: false).ConfigureAwait(false))
            {
                Restored("client");
            }

            return;
        }

        // Not heard: subscribe every channel afresh (each one is unsubscribed first, so none is ever held twice).
        if (await Subscriptions.ReconcileAllAsync(force: true).ConfigureAwait(false) && await Probe.RunAsync().ConfigureAwait(false))
        {
            Restored("node");
        }
    }

    private void Restored(string by)
    {
        _lost = false;
        _metrics.Resubscribed(by);
        Log.Restored(_logger, by, Subscriptions.SubscribedCount);
    }

    private void OnSubscriptionLost()
    {
        if (!_lost)
        {
            _lost = true;
            Log.Lost(_logger);
        }
    }

    private void OnSubscriptionRestored() => _ = RecoverQuietlyAsync();

    private async Task RecoverQuietlyAsync()
    {
        try
        {
            await EnsureAsync(wait: true).ConfigureAwait(false);
        }
        catch (ObjectDisposedException)
        {
            // The host is stopping: nothing left to recover.
        }
    }

    private void OnSubscribeFailed(Exception exception)
    {
        _metrics.Error("subscribe");
        Log.SubscribeFailed(_logger, exception);
    }

    private static partial class Log
    {
        [LoggerMessage(233, LogLevel.Information, "Listening on the WebSocket scale-out bus ({Channels} channels).", EventName = "RedisBusListening")]
        public static partial void Listening(ILogger logger, int channels);

        [LoggerMessage(234, LogLevel.Warning, "Subscribing to a bus channel failed; cross-node sends to it are lost until the node subscribes again.", EventName = "RedisBusSubscribeFailed")]
        public static partial void SubscribeFailed(ILogger logger, Exception exception);

        [LoggerMessage(235, LogLevel.Warning, "The Redis pub/sub connection was lost: this node hears no cross-node sends until it is back.", EventName = "RedisBusLost")]
        public static partial void Lost(ILogger logger);

        [LoggerMessage(236, LogLevel.Information, "This node hears the bus again ({Channels} channels; subscriptions restored by the {RestoredBy}).", EventName = "RedisBusRestored")]
        public static partial void Restored(ILogger logger, string restoredBy, int channels);
    }
}

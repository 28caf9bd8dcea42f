// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using WebSocketPool.Internal;

namespace WebSocketPool.Redis.Internal;

/// <summary>
/// Pub/sub between nodes. Broadcasts (user, group, everyone, kick a user) go to one channel every node subscribes to;
/// connection-targeted requests go to the owning node's own channel, named by the node id that starts every
/// connection id. Each node delivers a message once, to its own matching connections, and ignores its own broadcasts.
/// Redis pub/sub delivers at most once: a node cut off from Redis misses what was published meanwhile.
/// </summary>
internal sealed partial class RedisBus(
    RedisConnection connection,
    RedisLocalSender local,
    RedisWebSocketPoolMetrics metrics,
    IOptions<RedisWebSocketPoolOptions> options,
    TimeProvider timeProvider,
    ILogger<RedisBus> logger) : IDisposable
{
    private readonly SemaphoreSlim _subscribeLock = new(1, 1);
    private volatile bool _subscribed;

    public bool IsSubscribed => _subscribed;

    public void Dispose() => _subscribeLock.Dispose();

    /// <summary>Subscribes both channels once; StackExchange.Redis restores the subscriptions after a reconnect.</summary>
    public async Task EnsureSubscribedAsync()
    {
        if (_subscribed || connection.Multiplexer is not { IsConnected: true } multiplexer)
        {
            return;
        }

        await _subscribeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_subscribed)
            {
                return;
            }

            var subscriber = multiplexer.GetSubscriber();
            var bus = await subscriber.SubscribeAsync(connection.Keys.BusChannel).ConfigureAwait(false);
            bus.OnMessage(OnMessageAsync);
            var own = await subscriber.SubscribeAsync(connection.Keys.NodeChannel(connection.NodeId)).ConfigureAwait(false);
            own.OnMessage(OnMessageAsync);
            _subscribed = true;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            connection.MarkFailed("subscribe", ex);
        }
        finally
        {
            _subscribeLock.Release();
        }
    }

    /// <summary>Publishes a broadcast without waiting; failures are logged and counted, never thrown at the sender.</summary>
    public void Publish(BusMessage message)
    {
        if (connection.Multiplexer is not { IsConnected: true } multiplexer)
        {
            connection.MarkFailed("publish", null);
            return;
        }

        try
        {
            var task = multiplexer.GetSubscriber().PublishAsync(connection.Keys.BusChannel, message.Encode());
            metrics.Published();
            if (!task.IsCompletedSuccessfully)
            {
                _ = ObserveAsync(task);
            }
        }
        catch (RedisException ex)
        {
            connection.MarkFailed("publish", ex);
        }
    }

    /// <summary>Publishes to one node and waits for Redis to answer how many subscribers got it (0 on failure).</summary>
    public async Task<long> PublishToNodeAsync(string nodeId, BusMessage message, CancellationToken cancellationToken)
    {
        if (connection.Multiplexer is not { IsConnected: true } multiplexer)
        {
            connection.MarkFailed("publish", null);
            return 0;
        }

        try
        {
            var receivers = await multiplexer.GetSubscriber().PublishAsync(connection.Keys.NodeChannel(nodeId), message.Encode())
                .WaitAsync(options.Value.OperationTimeout, timeProvider, cancellationToken).ConfigureAwait(false);
            metrics.Published();
            connection.MarkAvailable();
            return receivers;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            connection.MarkFailed("publish", ex);
            return 0;
        }
    }

    private async Task ObserveAsync(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            connection.MarkFailed("publish", ex);
        }
    }

    private async Task OnMessageAsync(ChannelMessage received)
    {
        var data = (byte[]?)received.Message;
        if (data is null || !BusMessage.TryDecode(data, out var message) || !HasValidClose(message))
        {
            metrics.Malformed();
            Log.Malformed(logger);
            return;
        }

        if (string.Equals(message.Origin, connection.NodeId, StringComparison.Ordinal))
        {
            return; // delivered locally before it was published
        }

        metrics.Received();
        try
        {
            var sender = local.Inner;
            var type = message.Code == (int)WebSocketMessageType.Binary ? WebSocketMessageType.Binary : WebSocketMessageType.Text;
            switch (message.Kind)
            {
                case BusMessageKind.User:
                    await sender.SendToUserAsync(message.Target, message.Payload, type).ConfigureAwait(false);
                    break;
                case BusMessageKind.Group:
                    await sender.SendToGroupAsync(message.Target, message.Payload, type).ConfigureAwait(false);
                    break;
                case BusMessageKind.All:
                    await sender.SendToAllAsync(message.Payload, type).ConfigureAwait(false);
                    break;
                case BusMessageKind.KickUser:
                    await sender.DisconnectUserAsync(message.Target, message.Code, message.Text).ConfigureAwait(false);
                    break;
                case BusMessageKind.Connection:
                    await sender.SendToConnectionAsync(message.Target, message.Payload, type).ConfigureAwait(false);
                    break;
                case BusMessageKind.KickConnection:
                    await sender.DisconnectConnectionAsync(message.Target, message.Code, message.Text).ConfigureAwait(false);
                    break;
                case BusMessageKind.AddToGroup:
                    await sender.AddToGroupAsync(message.Target, message.Text!).ConfigureAwait(false);
                    break;
                case BusMessageKind.RemoveFromGroup:
                    await sender.RemoveFromGroupAsync(message.Target, message.Text!).ConfigureAwait(false);
                    break;
            }
        }
#pragma warning disable CA1031 // One bad message must not stop the subscription.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.DeliveryFailed(logger, message.Kind, ex);
        }
    }

    /// <summary>A kick carries a close code and reason that the public API would accept; anything else is malformed.</summary>
    private static bool HasValidClose(in BusMessage message) =>
        message.Kind is not (BusMessageKind.KickUser or BusMessageKind.KickConnection)
        || (CloseArguments.IsSendable(message.Code) && CloseArguments.IsValidReason(message.Text));

    private static partial class Log
    {
        [LoggerMessage(221, LogLevel.Warning, "Ignored a malformed message on the WebSocket scale-out channel.", EventName = "RedisBusMalformed")]
        public static partial void Malformed(ILogger logger);

        [LoggerMessage(222, LogLevel.Error, "Delivering a {Kind} message from another node failed.", EventName = "RedisBusDeliveryFailed")]
        public static partial void DeliveryFailed(ILogger logger, BusMessageKind kind, Exception exception);
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;
using StackExchange.Redis;

namespace WebSocketPool.Redis.Internal;

/// <summary>
/// Subscribes channels on the multiplexer, one <see cref="ChannelMessageQueue"/> each: a queue hands its messages to
/// <c>onMessage</c> one at a time, in the order Redis sent them (the client's handler callbacks would run concurrently
/// and reorder them). The client restores its subscriptions itself after the subscription connection comes back.
/// </summary>
/// <remarks>
/// A subscribe that fails (an ACL refusal, a lost connection, no answer in time) still leaves the channel registered in
/// StackExchange.Redis, with a queue the caller never received: nobody would read it, and the client would subscribe it
/// again at its next reconnect, so it would fill up. The failure path therefore removes every registration of that
/// channel before it reports the failure. Channel names carry the app's prefix, so no one else registers them.
/// </remarks>
internal sealed class RedisChannelSubscriber(
    RedisConnection connection, RedisWebSocketPoolMetrics metrics, TimeSpan timeout, TimeProvider timeProvider, Func<ChannelMessage, Task> onMessage)
    : IChannelSubscriber
{
    private readonly ConcurrentDictionary<string, ChannelMessageQueue> _queues = new(StringComparer.Ordinal);

    public async Task SubscribeAsync(string channel)
    {
        var multiplexer = connection.Multiplexer
            ?? throw new RedisConnectionException(ConnectionFailureType.UnableToConnect, "Not connected to Redis yet.");
        var subscriber = multiplexer.GetSubscriber();
        var name = RedisChannel.Literal(channel);
        try
        {
            var queue = await subscriber.SubscribeAsync(name).WaitAsync(timeout, timeProvider).ConfigureAwait(false);
            queue.OnMessage(onMessage);
            _queues[channel] = queue;
            metrics.SubscriptionChanged("subscribe");
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            await ForgetAsync(subscriber, name).ConfigureAwait(false);
            throw;
        }
    }

    public async Task UnsubscribeAsync(string channel)
    {
        if (!_queues.TryRemove(channel, out var queue))
        {
            return;
        }

        metrics.SubscriptionChanged("unsubscribe");
        try
        {
            // The queue leaves the client's registrations before the command goes out, so a failure here leaves nothing.
            await queue.UnsubscribeAsync().WaitAsync(timeout, timeProvider).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            metrics.Error("unsubscribe");
        }
    }

    /// <summary>Removes every handler and queue of the channel from the client (and unsubscribes it on the server, if it got that far).</summary>
    private async Task ForgetAsync(ISubscriber subscriber, RedisChannel name)
    {
        try
        {
            await subscriber.UnsubscribeAsync(name).WaitAsync(timeout, timeProvider).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            metrics.Error("unsubscribe");
        }
    }
}

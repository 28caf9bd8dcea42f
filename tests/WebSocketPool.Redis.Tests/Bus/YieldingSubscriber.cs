// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;
using WebSocketPool.Redis.Internal;

namespace WebSocketPool.Redis.Tests.Bus;

/// <summary>
/// Stands in for Redis in the model test of <see cref="ChannelSubscriptions"/> (the reference count is under test, not
/// Redis): it yields to other threads inside every call, fails its first few subscribes, and records any call the
/// contract of <see cref="IChannelSubscriber"/> forbids.
/// </summary>
internal sealed class YieldingSubscriber(int failures, ConcurrentQueue<string> violations) : IChannelSubscriber
{
    private readonly ConcurrentDictionary<string, bool> _subscribed = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _inCall = new(StringComparer.Ordinal);
    private int _failuresLeft = failures;

    public bool IsSubscribed(string channel) => _subscribed.TryGetValue(channel, out var held) && held;

    public async Task SubscribeAsync(string channel)
    {
        Enter(channel);
        try
        {
            await Task.Yield();
            if (IsSubscribed(channel))
            {
                violations.Enqueue($"subscribe of {channel} while subscribed (a second subscription: double delivery)");
            }

            if (Interlocked.Decrement(ref _failuresLeft) >= 0)
            {
                throw new InvalidOperationException("refused, as Redis may refuse a subscribe");
            }

            await Task.Yield();
            _subscribed[channel] = true;
        }
        finally
        {
            Leave(channel);
        }
    }

    public async Task UnsubscribeAsync(string channel)
    {
        Enter(channel);
        try
        {
            await Task.Yield();
            if (!IsSubscribed(channel))
            {
                violations.Enqueue($"unsubscribe of {channel} while not subscribed");
            }

            _subscribed[channel] = false;
        }
        finally
        {
            Leave(channel);
        }
    }

    private void Enter(string channel)
    {
        if (_inCall.AddOrUpdate(channel, 1, static (_, n) => n + 1) > 1)
        {
            violations.Enqueue($"two calls for {channel} at once");
        }
    }

    private void Leave(string channel) => _inCall.AddOrUpdate(channel, 0, static (_, n) => n - 1);
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;
using System.Globalization;
using WebSocketPool.Redis.Internal;

namespace WebSocketPool.Redis.Tests.Bus;

/// <summary>
/// The real <see cref="ChannelSubscriptions"/> over <see cref="YieldingSubscriber"/>, driven like the connections
/// drive it: an acquire is a reference a later release gives back (a release with no reference held does nothing), and
/// a forced resubscribe of every channel (the bus's recovery) may run among them.
/// </summary>
internal sealed class SubscriptionsHarness
{
    private readonly int[] _held = new int[3];
    private readonly YieldingSubscriber _subscriber;
    private readonly ChannelSubscriptions _subscriptions;
    private readonly ConcurrentQueue<string> _violations = new();
    private int _forcing;

    public SubscriptionsHarness(int failures)
    {
        _subscriber = new YieldingSubscriber(failures, _violations);
        _subscriptions = new ChannelSubscriptions(_subscriber, static (_, _) => { });
    }

    public static string Name(int channel) => "c" + channel.ToString(CultureInfo.InvariantCulture);

    public void Acquire(int channel)
    {
        var subscribed = _subscriptions.AcquireAsync(Name(channel)).WaitAsync(TimeSpan.FromSeconds(20)).GetAwaiter().GetResult();

        // A forced resubscribe (unsubscribe, subscribe) running meanwhile may hold the channel away for a moment: by design.
        if (subscribed && Volatile.Read(ref _forcing) == 0 && !_subscriber.IsSubscribed(Name(channel)))
        {
            _violations.Enqueue($"acquire of {Name(channel)} reported success but the channel is not subscribed");
        }

        Interlocked.Increment(ref _held[channel]);
    }

    /// <summary>What the bus does when it could not confirm the client's restore: every wanted channel subscribed afresh.</summary>
    public void Resubscribe()
    {
        Interlocked.Increment(ref _forcing);
        try
        {
            _subscriptions.ReconcileAllAsync(force: true).WaitAsync(TimeSpan.FromSeconds(20)).GetAwaiter().GetResult();
        }
        finally
        {
            Interlocked.Decrement(ref _forcing);
        }
    }

    public void Release(int channel)
    {
        var held = Volatile.Read(ref _held[channel]);
        while (held > 0)
        {
            var seen = Interlocked.CompareExchange(ref _held[channel], held - 1, held);
            if (seen == held)
            {
                _subscriptions.Release(Name(channel));
                return;
            }

            held = seen;
        }
    }

    /// <summary>Retries failed subscribes until none fails (the subscriber fails a bounded number of times), then compares.</summary>
    public bool Matches(int[] model)
    {
        for (var i = 0; i < 10; i++)
        {
            if (_subscriptions.ReconcileAllAsync(force: false).WaitAsync(TimeSpan.FromSeconds(20)).GetAwaiter().GetResult()
                && _subscriptions.FailingCount == 0)
            {
                break;
            }
        }

        var subscribedChannels = 0;
        for (var c = 0; c < model.Length; c++)
        {
            var subscribed = _subscriber.IsSubscribed(Name(c));
            subscribedChannels += subscribed ? 1 : 0;
            if (_subscriptions.References(Name(c)) != model[c] || subscribed != model[c] > 0)
            {
                return false;
            }
        }

        return _violations.IsEmpty && _subscriptions.FailingCount == 0 && _subscriptions.SubscribedCount == subscribedChannels;
    }

    public override string ToString()
    {
        var channels = string.Join(", ", Enumerable.Range(0, _held.Length).Select(c =>
            $"{Name(c)}: refs={_subscriptions.References(Name(c))} subscribed={_subscriber.IsSubscribed(Name(c))}"));
        return $"{channels}; failing={_subscriptions.FailingCount}; violations: {string.Join(" | ", _violations)}";
    }
}

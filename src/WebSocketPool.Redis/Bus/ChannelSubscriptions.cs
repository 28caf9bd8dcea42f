// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;

namespace WebSocketPool.Redis.Internal;

/// <summary>
/// This node's interest in bus channels, counted per channel: the first reference subscribes, the last one gone
/// unsubscribes. Every subscribe and unsubscribe of one channel runs in a chain of its own, one step after another, so
/// an unsubscribe can never overtake a re-subscribe of the same channel (nor run beside it); different channels never
/// wait for each other. A step compares what is wanted (references) with what is held, so steps queued behind each
/// other collapse into what the last one wants.
/// </summary>
/// <remarks>
/// A subscribe that fails keeps its reference: the channel is then <em>failing</em> (counted by
/// <see cref="FailingCount"/>, which makes the node report that it cannot hear the bus) until
/// <see cref="ReconcileAllAsync"/> subscribes it. Nothing here throws at a caller.
/// </remarks>
internal sealed class ChannelSubscriptions(IChannelSubscriber subscriber, Action<string, Exception> subscribeFailed)
{
    private readonly ConcurrentDictionary<string, Interest> _interests = new(StringComparer.Ordinal);
    private int _subscribed;
    private int _failing;

    /// <summary>Gets how many channels are subscribed now.</summary>
    public int SubscribedCount => Volatile.Read(ref _subscribed);

    /// <summary>Gets how many wanted channels could not be subscribed (their last attempt failed).</summary>
    public int FailingCount => Volatile.Read(ref _failing);

    /// <summary>Gets how many references a channel holds (0 when none).</summary>
    public int References(string channel)
    {
        if (!_interests.TryGetValue(channel, out var interest))
        {
            return 0;
        }

        lock (interest)
        {
            return interest.References;
        }
    }

    /// <summary>Gets whether the channel is subscribed now.</summary>
    public bool IsSubscribed(string channel) => _interests.TryGetValue(channel, out var interest) && interest.Subscribed;

    /// <summary>
    /// Adds a reference and completes once the channel is subscribed: <see langword="true"/>, or
    /// <see langword="false"/> when subscribing failed (the reference stays; the channel is failing).
    /// </summary>
    public Task<bool> AcquireAsync(string channel)
    {
        while (true)
        {
            var interest = _interests.GetOrAdd(channel, static name => new Interest(name));
            lock (interest)
            {
                if (interest.Removed)
                {
                    continue; // its last step just retired it; a new one takes its place
                }

                interest.References++;

                // Already held and nothing in flight: the reference is enough, no step, no round trip.
                return interest.Subscribed && interest.Tail.IsCompleted ? Task.FromResult(true) : Enqueue(interest, force: false);
            }
        }
    }

    /// <summary>Drops a reference taken by <see cref="AcquireAsync"/>; the last one unsubscribes, without waiting for it.</summary>
    public void Release(string channel)
    {
        if (!_interests.TryGetValue(channel, out var interest))
        {
            return;
        }

        lock (interest)
        {
            if (interest.References == 0 || --interest.References > 0)
            {
                return;
            }

            _ = Enqueue(interest, force: false);
        }
    }

    /// <summary>
    /// Brings every channel to what is wanted: subscribes failing ones, or with <paramref name="force"/> subscribes every
    /// wanted channel afresh (unsubscribe, subscribe). Completes with <see langword="true"/> when every wanted channel is
    /// subscribed.
    /// </summary>
    public async Task<bool> ReconcileAllAsync(bool force)
    {
        // Every channel's step is queued first, then awaited: channels do not wait for each other, and the client
        // pipelines their commands.
        var steps = new List<(Interest Interest, Task<bool> Step)>();
        foreach (var interest in _interests.Values)
        {
            lock (interest)
            {
                if (!interest.Removed)
                {
                    steps.Add((interest, Enqueue(interest, force)));
                }
            }
        }

        var all = true;
        foreach (var (interest, step) in steps)
        {
            // A channel nobody wants any more counts as done.
            all &= await step.ConfigureAwait(false) || References(interest.Name) == 0;
        }

        return all;
    }

    /// <summary>Under the interest's lock: appends a step to its chain.</summary>
    private Task<bool> Enqueue(Interest interest, bool force)
    {
        var step = StepAsync(interest, interest.Tail, force);
        interest.Tail = step;
        return step;
    }

    private async Task<bool> StepAsync(Interest interest, Task previous, bool force)
    {
        // Always continue on the thread pool: a step is queued under the interest's lock, and a release may queue one from
        // the pool's release path, where nothing may wait for Redis.
        await previous.ConfigureAwait(ConfigureAwaitOptions.ForceYielding | ConfigureAwaitOptions.SuppressThrowing);
        bool wanted;
        lock (interest)
        {
            wanted = interest.References > 0;
        }

        if (wanted && (force || !interest.Subscribed))
        {
            if (interest.Subscribed)
            {
                await UnsubscribeAsync(interest).ConfigureAwait(false);
            }

            try
            {
                await subscriber.SubscribeAsync(interest.Name).ConfigureAwait(false);
                interest.Subscribed = true;
                Interlocked.Increment(ref _subscribed);
                SetFailing(interest, false);
            }
#pragma warning disable CA1031 // The reference stays and the channel is reported failing; the caller is never thrown at.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                SetFailing(interest, true);
                subscribeFailed(interest.Name, ex);
            }
        }
        else if (!wanted)
        {
            if (interest.Subscribed)
            {
                await UnsubscribeAsync(interest).ConfigureAwait(false);
            }

            SetFailing(interest, false);
        }

        lock (interest)
        {
            if (interest.References == 0 && !interest.Subscribed)
            {
                // Released while its subscribe failed: nobody wants it any more, so it is not failing either (a step
                // still queued behind this one finds it retired and changes nothing).
                SetFailing(interest, false);
                interest.Removed = true;
                _interests.TryRemove(new KeyValuePair<string, Interest>(interest.Name, interest));
            }

            return interest.References > 0 && interest.Subscribed;
        }
    }

    private async Task UnsubscribeAsync(Interest interest)
    {
        try
        {
            await subscriber.UnsubscribeAsync(interest.Name).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // An unsubscribe that failed leaves nothing to undo: the subscriber removed its registration first.
        catch (Exception)
#pragma warning restore CA1031
        {
        }

        interest.Subscribed = false;
        Interlocked.Decrement(ref _subscribed);
    }

    private void SetFailing(Interest interest, bool failing)
    {
        if (interest.Failing != failing)
        {
            interest.Failing = failing;
            Interlocked.Add(ref _failing, failing ? 1 : -1);
        }
    }

    private sealed class Interest(string name)
    {
        public string Name { get; } = name;

        /// <summary>Under the lock: references taken and not yet released.</summary>
        public int References { get; set; }

        /// <summary>Under the lock: retired from the table; a new reference makes a new interest.</summary>
        public bool Removed { get; set; }

        /// <summary>Under the lock: the last step queued for this channel.</summary>
        public Task Tail { get; set; } = Task.CompletedTask;

        /// <summary>Written by steps only (one at a time); read anywhere.</summary>
        public volatile bool Subscribed;

        /// <summary>Written by steps only.</summary>
        public bool Failing;
    }
}

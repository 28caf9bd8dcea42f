// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using CsCheck;
using Xunit.Abstractions;

namespace WebSocketPool.Redis.Tests.Bus;

/// <summary>
/// The per-channel reference count behind interest routing, under random concurrent interleavings of acquire, release
/// and a forced resubscribe of everything on a few channels, against a subscriber that yields at every step and fails some subscribes. Checked on
/// every step: a channel is never subscribed twice nor unsubscribed when not held, two calls for one channel never
/// overlap, and an acquire that reports success returns with the channel subscribed. Checked at the end (after
/// retrying failed subscribes) against the sequential model: each channel's references equal the model's count, and
/// a channel is subscribed exactly when its count is above zero.
/// </summary>
public sealed class ChannelSubscriptionsModelTests(ITestOutputHelper output)
{
    private const int Channels = 3;

    [Fact]
    public void AcquireAndRelease_RandomInterleavings_SubscribedExactlyWhileReferenced()
    {
        var channel = Gen.Int[0, Channels - 1];
        var initial = Gen.Int[0, 3].Select(failures => (new SubscriptionsHarness(failures), new int[Channels]));

        initial.SampleParallel(
            [
                channel.Operation<SubscriptionsHarness, int[]>(c => $"Acquire({c})", (a, c) => a.Acquire(c), (m, c) => m[c]++),
                channel.Operation<SubscriptionsHarness, int[]>(c => $"Acquire({c})", (a, c) => a.Acquire(c), (m, c) => m[c]++),
                channel.Operation<SubscriptionsHarness, int[]>(c => $"Release({c})", (a, c) => a.Release(c), (m, c) => m[c] = Math.Max(0, m[c] - 1)),
                channel.Operation<SubscriptionsHarness, int[]>(c => $"Release({c})", (a, c) => a.Release(c), (m, c) => m[c] = Math.Max(0, m[c] - 1)),
                Gen.Operation<SubscriptionsHarness, int[]>("Resubscribe", a => a.Resubscribe(), _ => { }),
            ],
            equal: (actual, model) => actual.Matches(model),
            maxSequentialOperations: 10,
            maxParallelOperations: 6,
            iter: 1500,
            printActual: a => a.ToString(),
            printModel: m => string.Join(",", m),
            writeLine: output.WriteLine);
    }
}

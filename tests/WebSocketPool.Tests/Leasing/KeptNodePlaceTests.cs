// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using WebSocketPool.Internal;
using Xunit.Abstractions;

namespace WebSocketPool.Tests.Leasing;

/// <summary>
/// The place in the node's count a user keeps for its next lease (within the reuse window): counted against
/// <c>MaxConnections</c>, never reported as a connection, taken back by an admission that finds the cap reached, never
/// kept near the cap, given back when the user's entry goes, and agreed with by the audit.
/// </summary>
public sealed class KeptNodePlaceTests(ITestOutputHelper output) : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly List<PooledWebSocketManagerFactory> _factories = [];
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));

    public void Dispose()
    {
        _factories.ForEach(f => f.Dispose());
        _services.Dispose();
    }

    [Fact]
    public void Abandon_WithinTheReuseWindow_TheUserKeepsItsPlaceAndTakesItAgainOnReconnect()
    {
        var factory = Create(o => o.MaxConnections = 100);

        for (var i = 0; i < 3; i++)
        {
            var admission = factory.TryAdmit("alice");
            admission.IsAdmitted.Should().BeTrue();
            factory.ActiveConnections.Should().Be(1);
            factory.NodePlacesTaken.Should().Be(1);
            factory.Abandon(admission);
            factory.ActiveConnections.Should().Be(0, "a kept place is no connection");
            factory.NodePlacesTaken.Should().Be(1, "alice keeps her place for her next lease");
        }

        factory.Audit().Mismatches.Should().Be(0);
    }

    [Fact]
    public void TryAdmit_AtTheCapWhileAnotherUserKeepsAPlace_TakesItBackAndNeverExceedsTheCap()
    {
        var factory = Create(o =>
        {
            o.MaxConnections = 2;
            o.MaxConnectionsPerUser = 2;
        });
        factory.Abandon(factory.TryAdmit("alice"));
        factory.NodePlacesTaken.Should().Be(1);

        var first = factory.TryAdmit("bob");
        var second = factory.TryAdmit("bob");

        first.IsAdmitted.Should().BeTrue();
        second.IsAdmitted.Should().BeTrue("alice's kept place goes back to the node when bob needs it");
        factory.ActiveConnections.Should().Be(2);
        factory.NodePlacesTaken.Should().Be(2);
        var refused = factory.TryAdmit("alice");
        refused.RejectionReason.Should().Be(RejectionReasons.GlobalLimit);
        refused.StatusCode.Should().Be(503);
        factory.Preview("carol").RejectionReason.Should().Be(RejectionReasons.GlobalLimit);
        factory.NodePlacesTaken.Should().Be(2);
        factory.Audit().Mismatches.Should().Be(0);

        factory.Abandon(first);
        factory.Abandon(second);
        factory.ActiveConnections.Should().Be(0);
        factory.Audit().Mismatches.Should().Be(0);
    }

    [Fact]
    public void TryAdmit_TakingPlacesBackAtTheCap_SpendsOneConnectTokenOfEachBucketPerAttempt()
    {
        // An admission that meets the cap while alice keeps a place takes the place back and is decided a second time;
        // the second pass is the same attempt, so bob's bucket and his address's lose one token each, not two.
        var factory = Create(o =>
        {
            o.MaxConnections = 2;
            o.MaxConnectionsPerUser = 5;
            o.ConnectRateLimit = 1;
            o.ConnectRateBurst = 3;
            o.ConnectRateLimitPerIP = 1;
            o.ConnectRateBurstPerIP = 3;
        });
        var bobs = IPAddress.Parse("192.0.2.7");
        factory.Abandon(factory.TryAdmit("alice", IPAddress.Parse("192.0.2.1")));
        factory.NodePlacesTaken.Should().Be(1);

        var first = factory.TryAdmit("bob", bobs);
        var second = factory.TryAdmit("bob", bobs);
        second.IsAdmitted.Should().BeTrue("alice's kept place goes back to the node");
        factory.Abandon(second);
        var third = factory.TryAdmit("bob", bobs);

        first.IsAdmitted.Should().BeTrue();
        third.IsAdmitted.Should().BeTrue("bob and his address spent two of three tokens before it");
        factory.TryAdmit("bob", bobs).RejectionReason.Should().Be(RejectionReasons.IPRateLimited);
        factory.Abandon(first);
        factory.Abandon(third);
        factory.Audit().Mismatches.Should().Be(0);
    }

    [Fact]
    public void Abandon_NearTheCap_ThePlaceGoesBackToTheNode()
    {
        // A sixteenth under the cap of 32: a release with 30 or more places taken keeps nothing.
        var factory = Create(o =>
        {
            o.MaxConnections = 32;
            o.MaxConnectionsPerUser = 1;
        });
        var held = Enumerable.Range(0, 30).Select(i => factory.TryAdmit("user" + i)).ToList();
        held.Should().OnlyContain(a => a.IsAdmitted);

        var admission = factory.TryAdmit("alice");
        factory.NodePlacesTaken.Should().Be(31);
        factory.Abandon(admission);

        factory.NodePlacesTaken.Should().Be(30, "at 31 of 32 places taken the place is not kept");
        factory.ActiveConnections.Should().Be(30);
        held.ForEach(a => factory.Abandon(a));
        factory.Audit().Mismatches.Should().Be(0);
    }

    [Fact]
    public void ReuseWindow_Passed_TheUserEntryGoesAndGivesItsPlaceBack()
    {
        var factory = Create(o => o.MaxConnections = 100);
        factory.Abandon(factory.TryAdmit("alice"));
        factory.NodePlacesTaken.Should().Be(1);

        for (var i = 0; i < 4; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(15));
        }

        factory.UserEntryCount.Should().Be(0);
        factory.NodePlacesTaken.Should().Be(0);
    }

    [Fact]
    public void ReuseWindowOff_NoPlaceIsKept()
    {
        var factory = Create(o => o.ReuseWindow = TimeSpan.Zero);
        factory.Abandon(factory.TryAdmit("alice"));

        factory.NodePlacesTaken.Should().Be(0);
        factory.UserEntryCount.Should().Be(0);
    }

    [Fact]
    public void TryAdmit_SixteenThreadsSixteenUsersAtASmallCap_NeverOverAdmitsAndEveryPlaceComesBack()
    {
        // Each user keeps a place between its leases while the others hit the cap and take places back: the node's count,
        // kept places included, never exceeds the cap, nor do the admitted leases held at once.
        const int Threads = 16;
        const int Iterations = 2_000;
        const int Cap = 6;
        var factory = Create(o =>
        {
            o.MaxConnections = Cap;
            o.MaxConnectionsPerUser = 3;
        });
        var held = 0;
        var maxHeld = 0;
        var maxTaken = 0;
        var admitted = 0;
        var globalRefusals = 0;
        var thread = 0;
        using var start = new Barrier(Threads);

        var threads = Enumerable.Range(0, Threads).Select(_ => new Thread(() =>
        {
            var user = "user" + Interlocked.Increment(ref thread);
            start.SignalAndWait();
            for (var i = 0; i < Iterations; i++)
            {
                var admission = factory.TryAdmit(user);
                RaiseMax(ref maxTaken, factory.NodePlacesTaken);
                if (!admission.IsAdmitted)
                {
                    if (admission.RejectionReason == RejectionReasons.GlobalLimit)
                    {
                        Interlocked.Increment(ref globalRefusals);
                    }

                    continue;
                }

                Interlocked.Increment(ref admitted);
                RaiseMax(ref maxHeld, Interlocked.Increment(ref held));
                Thread.SpinWait(200);
                Interlocked.Decrement(ref held);
                factory.Abandon(admission);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        output.WriteLine($"admitted {admitted}, global refusals {globalRefusals}, most held {maxHeld}, highest count read {maxTaken}");
        maxHeld.Should().BeLessThanOrEqualTo(Cap);
        maxTaken.Should().BeLessThanOrEqualTo(Cap);
        admitted.Should().BePositive();
        globalRefusals.Should().BePositive("sixteen users holding places must have met the cap");
        factory.ActiveConnections.Should().Be(0);
        factory.NodePlacesTaken.Should().BeLessThanOrEqualTo(Cap);
        factory.Audit().Mismatches.Should().Be(0);

        // With every lease ended, the cap is fully available again: the kept places are taken back as needed.
        var all = Enumerable.Range(0, Cap).Select(i => factory.TryAdmit("late" + i)).ToList();
        all.Should().OnlyContain(a => a.IsAdmitted);
        factory.TryAdmit("one-too-many").RejectionReason.Should().Be(RejectionReasons.GlobalLimit);
        factory.NodePlacesTaken.Should().Be(Cap);
    }

    [Fact]
    public void TryAdmit_ThreadsAtTheCapWhilePlacesAreKept_AdmitOneAttemptPerKeptPlace()
    {
        // Ten users left and keep their places; 1,990 others hold theirs, so the node is at its cap with ten places only
        // kept. Then ten new users arrive from eight threads at once: each finds the cap reached and needs a kept place
        // back. The first takes them back while it walks the 2,000 users; one that arrives meanwhile must wait for that
        // walk, not refuse: all ten are admitted, and the next attempt is refused.
        const int Threads = 8;
        const int Cap = 2_000;
        const int Kept = 10;
        for (var round = 0; round < 20; round++)
        {
            var factory = Create(o => o.MaxConnections = Cap);
            var holders = new List<WebSocketAdmission>();
            for (var i = 0; i < Kept; i++)
            {
                factory.Abandon(factory.TryAdmit($"left{round}-{i}"));
            }

            for (var i = 0; i < Cap - Kept; i++)
            {
                holders.Add(factory.TryAdmit($"holder{round}-{i}"));
            }

            holders.Should().OnlyContain(h => h.IsAdmitted);
            factory.NodePlacesTaken.Should().Be(Cap);
            factory.ActiveConnections.Should().Be(Cap - Kept, "ten places are only kept");
            var next = -1;
            var outcomes = new System.Collections.Concurrent.ConcurrentBag<WebSocketAdmission>();
            using var start = new Barrier(Threads);
            var threads = Enumerable.Range(0, Threads).Select(_ => new Thread(() =>
            {
                start.SignalAndWait();
                int i;
                while ((i = Interlocked.Increment(ref next)) < Kept)
                {
                    outcomes.Add(factory.TryAdmit($"new{round}-{i}"));
                }
            })).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());

            var refused = outcomes.Where(o => !o.IsAdmitted).Select(o => o.RejectionReason).ToList();
            output.WriteLine($"round {round}: admitted {outcomes.Count - refused.Count}, refused {refused.Count}");
            refused.Should().BeEmpty("a place only kept is no connection: none of the ten may be refused");
            factory.ActiveConnections.Should().Be(Cap);
            factory.TryAdmit("one-too-many").RejectionReason.Should().Be(RejectionReasons.GlobalLimit);
            factory.Audit().Mismatches.Should().Be(0);
            foreach (var admission in holders.Concat(outcomes))
            {
                factory.Abandon(admission);
            }

            factory.ActiveConnections.Should().Be(0);
        }
    }

    private static void RaiseMax(ref int max, int value)
    {
        var current = Volatile.Read(ref max);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref max, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }

    private PooledWebSocketManagerFactory Create(Action<WebSocketPoolOptions>? configure = null)
    {
        var options = new WebSocketPoolOptions { AuditInterval = TimeSpan.Zero };
        configure?.Invoke(options);
        var factory = new PooledWebSocketManagerFactory(
            Options.Create(options),
            _time,
            new WebSocketPoolMetrics(_services.GetRequiredService<IMeterFactory>()));
        _factories.Add(factory);
        return factory;
    }
}

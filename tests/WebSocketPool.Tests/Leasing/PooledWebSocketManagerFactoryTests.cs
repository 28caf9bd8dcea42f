// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using WebSocketPool.Internal;
using Xunit.Abstractions;

namespace WebSocketPool.Tests.Leasing;

/// <summary>The factory on its own, without sockets: admission under races, release, reuse, reset and residue.</summary>
public sealed class PooledWebSocketManagerFactoryTests(ITestOutputHelper output) : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly List<PooledWebSocketManagerFactory> _factories = [];
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));

    public void Dispose()
    {
        _factories.ForEach(f => f.Dispose());
        _services.Dispose();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(30)]
    public void TryAdmit_SixteenThreadsOneUser_NeverExceedsLimitAndEndsAtZero(int reuseWindowSeconds)
    {
        const int Threads = 16;
        const int Iterations = 1_000;
        const int Limit = 5;
        var factory = Create(o =>
        {
            o.MaxConnectionsPerUser = Limit;
            o.ReuseWindow = TimeSpan.FromSeconds(reuseWindowSeconds);
        });
        var held = 0;
        var maxHeld = 0;
        var maxCounted = 0;
        var admitted = 0;
        var refused = 0;
        using var start = new Barrier(Threads);

        RunThreads(Threads, () =>
        {
            start.SignalAndWait();
            for (var i = 0; i < Iterations; i++)
            {
                var admission = factory.TryAdmit("alice");
                if (!admission.IsAdmitted)
                {
                    admission.StatusCode.Should().Be(429);
                    Interlocked.Increment(ref refused);
                    continue;
                }

                Interlocked.Increment(ref admitted);
                RaiseMax(ref maxHeld, Interlocked.Increment(ref held));
                RaiseMax(ref maxCounted, factory.GetConnectionCount("alice"));

                // Hold the slot a little, so that the threads really contend for the last ones.
                Thread.SpinWait(500);
                Thread.Yield();
                Interlocked.Decrement(ref held);
                factory.Abandon(admission);
            }
        });

        output.WriteLine($"admitted {admitted}, refused {refused}, most held at once {maxHeld}, highest count read {maxCounted}");
        maxHeld.Should().BeLessThanOrEqualTo(Limit);
        maxCounted.Should().BeLessThanOrEqualTo(Limit);
        (admitted + refused).Should().Be(Threads * Iterations);
        admitted.Should().BePositive();
        refused.Should().BePositive("sixteen threads holding slots must have met the limit");
        factory.GetSnapshot(0).Rejected[RejectionReasons.UserLimit].Should().Be(refused);
        factory.GetConnectionCount("alice").Should().Be(0);
        factory.ActiveConnections.Should().Be(0);
        factory.WarmCount.Should().BeLessThanOrEqualTo(Limit, "warm managers per user are capped at the user's limit");
        if (reuseWindowSeconds == 0)
        {
            factory.UserEntryCount.Should().Be(0);
        }

        ExpireReuseWindow();
        factory.UserEntryCount.Should().Be(0);
        factory.WarmCount.Should().Be(0);
    }

    /// <summary>
    /// Sixteen threads, thirteen names, one client address: the address's count never exceeds its limit while names and
    /// threads contend (each admission takes the user's lock, then the address's), and it ends at 0 with no entry left.
    /// </summary>
    [Fact]
    public void TryAdmit_SixteenThreadsManyNamesOneAddress_NeverExceedsTheAddressLimitAndEndsAtZero()
    {
        const int Threads = 16;
        const int Iterations = 1_000;
        const int Limit = 7;
        var address = IPAddress.Parse("127.0.0.9");
        var factory = Create(o =>
        {
            o.MaxConnectionsPerIP = Limit;
            o.MaxConnectionsPerUser = 100;
        });
        var held = 0;
        var maxHeld = 0;
        var maxCounted = 0;
        var refused = 0;
        using var start = new Barrier(Threads);

        RunThreads(Threads, () =>
        {
            start.SignalAndWait();
            for (var i = 0; i < Iterations; i++)
            {
                var admission = factory.TryAdmit("name" + (i % 13), address);
                if (!admission.IsAdmitted)
                {
                    admission.RejectionReason.Should().Be(RejectionReasons.IPLimit);
                    admission.StatusCode.Should().Be(429);
                    Interlocked.Increment(ref refused);
                    continue;
                }

                RaiseMax(ref maxHeld, Interlocked.Increment(ref held));
                RaiseMax(ref maxCounted, factory.GetAddressConnectionCount(address));
                Thread.SpinWait(500);
                Thread.Yield();
                Interlocked.Decrement(ref held);
                factory.Abandon(admission);
            }
        });

        output.WriteLine($"refused {refused}, most held at once {maxHeld}, highest address count read {maxCounted}");
        maxHeld.Should().BeLessThanOrEqualTo(Limit);
        maxCounted.Should().BeLessThanOrEqualTo(Limit);
        refused.Should().BePositive("sixteen threads holding slots must have met the address's limit");
        factory.GetSnapshot(0).Rejected[RejectionReasons.IPLimit].Should().Be(refused);
        factory.GetAddressConnectionCount(address).Should().Be(0);
        factory.AddressEntryCount.Should().Be(0, "an address without connections keeps no entry");
        factory.ActiveConnections.Should().Be(0);
        factory.Audit().Mismatches.Should().Be(0);
    }

    [Fact]
    public void TryAdmit_WithoutAnAddressOrWithTheLimitsOff_CountsNoAddress()
    {
        var limited = Create(o => o.MaxConnectionsPerIP = 1);
        var off = Create();
        var address = IPAddress.Parse("127.0.0.9");

        limited.TryAdmit("a").IsAdmitted.Should().BeTrue();
        limited.TryAdmit("b").IsAdmitted.Should().BeTrue("without an address no per-IP limit applies");
        limited.TryAdmit("c", address).IsAdmitted.Should().BeTrue();
        limited.TryAdmit("d", address).RejectionReason.Should().Be(RejectionReasons.IPLimit);
        limited.Preview("d", address).RejectionReason.Should().Be(RejectionReasons.IPLimit);
        limited.Preview("d").IsAdmitted.Should().BeTrue();
        for (var i = 0; i < 5; i++)
        {
            off.TryAdmit("u" + i, address).IsAdmitted.Should().BeTrue();
        }

        off.AddressEntryCount.Should().Be(0, "no per-IP limit is on, so no address is counted");
    }

    /// <summary>A rate so slow that a bucket takes longer than TimeSpan can hold to refill still gives a factory (swept every minute).</summary>
    [Fact]
    public void Create_TinyPerIPConnectRate_Works()
    {
        var factory = Create(o =>
        {
            o.ConnectRateLimitPerIP = 1e-9;
            o.ConnectRateBurstPerIP = 1_000_000;
        });

        factory.TryAdmit("a", IPAddress.Loopback).IsAdmitted.Should().BeTrue();
    }

    [Fact]
    public void TryAdmit_SixteenThreadsManyUsers_NeverExceedsGlobalCap()
    {
        const int Threads = 16;
        const int Iterations = 1_000;
        const int Cap = 8;
        var factory = Create(o =>
        {
            o.MaxConnections = Cap;
            o.MaxConnectionsPerUser = 5;
        });
        var maxActive = 0;
        var globalRefusals = 0;
        var thread = 0;
        using var start = new Barrier(Threads);

        RunThreads(Threads, () =>
        {
            var user = "user" + Interlocked.Increment(ref thread);
            start.SignalAndWait();
            for (var i = 0; i < Iterations; i++)
            {
                var admission = factory.TryAdmit(user);
                if (!admission.IsAdmitted)
                {
                    if (admission.RejectionReason == RejectionReasons.GlobalLimit)
                    {
                        admission.StatusCode.Should().Be(503);
                        Interlocked.Increment(ref globalRefusals);
                    }

                    continue;
                }

                RaiseMax(ref maxActive, factory.ActiveConnections);
                Thread.SpinWait(500);
                Thread.Yield();
                factory.Abandon(admission);
            }
        });

        output.WriteLine($"highest active count read {maxActive}, global refusals {globalRefusals}");
        maxActive.Should().BeLessThanOrEqualTo(Cap);
        globalRefusals.Should().BePositive("sixteen users holding slots must have met the global cap");
        factory.ActiveConnections.Should().Be(0);
    }

    [Fact]
    public void Abandon_CalledTwice_FreesOneSlot()
    {
        var factory = Create(o => o.MaxConnectionsPerUser = 2);
        var first = factory.TryAdmit("alice");
        factory.TryAdmit("alice").IsAdmitted.Should().BeTrue();

        factory.Abandon(first);
        factory.Abandon(first);

        factory.GetConnectionCount("alice").Should().Be(1);
        factory.ActiveConnections.Should().Be(1);
        factory.TryAdmit("alice").IsAdmitted.Should().BeTrue();
        factory.Abandon(first);
        factory.GetConnectionCount("alice").Should().Be(2, "a third release of an old admission frees nothing");
        factory.TryAdmit("alice").IsAdmitted.Should().BeFalse();
    }

    [Fact]
    public void Abandon_KickedHandshake_TheManagersNextLeaseStartsNotAskedToClose()
    {
        // An abandoned admission ends under the user's lock alone (no manager lock): its wipe must still forget the close
        // a kick asked of the handshake, or the manager's next lease would close as soon as its socket is accepted.
        var factory = Create(o => o.ReuseWindow = TimeSpan.FromMinutes(1));
        var first = factory.TryAdmit("alice");
        var manager = first.Manager!;

        factory.DisconnectUser("alice", WebSocketCloseCodes.Kicked, "bye").Should().Be(1, "a handshake in progress is kicked too");
        manager.IsCloseRequested.Should().BeTrue();
        factory.Abandon(first);

        var second = factory.TryAdmit("alice");
        second.Manager.Should().BeSameAs(manager, "the warm manager is reused");
        manager.IsCloseRequested.Should().BeFalse("a new lease carries nothing of an earlier one");
        factory.GetConnectionCount("alice").Should().Be(1);
        factory.Abandon(second);
        factory.ActiveConnections.Should().Be(0);
        factory.GetConnectionCount("alice").Should().Be(0);
    }

    [Fact]
    public void Abandon_StaleAdmissionOfReusedManager_NeverFreesNewerLeaseOfSameUser()
    {
        var factory = Create(o => o.MaxConnectionsPerUser = 1);
        var old = factory.TryAdmit("alice");
        factory.Abandon(old);
        var current = factory.TryAdmit("alice");
        current.Manager.Should().BeSameAs(old.Manager, "the warm manager is reused by the same user");
        current.Generation.Should().NotBe(old.Generation);

        factory.Abandon(old);

        factory.GetConnectionCount("alice").Should().Be(1);
        factory.TryAdmit("alice").StatusCode.Should().Be(429);
        factory.Abandon(current);
        factory.GetConnectionCount("alice").Should().Be(0);
    }

    [Fact]
    public void Abandon_StaleAdmissionOfManagerNowServingAnotherUser_NeverFreesTheirSlot()
    {
        var factory = Create(o =>
        {
            o.MaxConnectionsPerUser = 1;
            o.ReuseWindow = TimeSpan.Zero;
            o.MaxPooledManagers = 1;
        });
        var alice = factory.TryAdmit("alice");
        factory.Abandon(alice);
        var bob = factory.TryAdmit("bob");
        bob.Manager.Should().BeSameAs(alice.Manager, "the only pooled manager serves the next user");

        factory.Abandon(alice);

        factory.GetConnectionCount("bob").Should().Be(1);
        factory.ActiveConnections.Should().Be(1);
        bob.Manager!.UserKey.Should().Be("bob");
        factory.Abandon(bob);
        factory.ActiveConnections.Should().Be(0);
        factory.UserEntryCount.Should().Be(0);
    }

    [Fact]
    public void TryAdmit_EvictOldestButOnlyHandshakesInProgress_RefusesRatherThanEvictingAReservation()
    {
        var factory = Create(o =>
        {
            o.MaxConnectionsPerUser = 1;
            o.OverflowPolicy = OverflowPolicy.EvictOldest;
        });
        var reserved = factory.TryAdmit("alice");

        var next = factory.TryAdmit("alice");

        next.StatusCode.Should().Be(429, "a handshake in progress has no socket to close, so nothing can be evicted");
        factory.GetConnectionCount("alice").Should().Be(1);
        factory.Abandon(reserved);
        factory.GetConnectionCount("alice").Should().Be(0);
    }

    [Fact]
    public void TryAdmit_WithinReuseWindow_SameUserGetsTheWarmManagerAndOthersDoNot()
    {
        var factory = Create(o => o.ReuseWindow = TimeSpan.FromSeconds(30));
        var first = factory.TryAdmit("alice");
        var manager = first.Manager!;
        factory.Abandon(first);
        factory.WarmCount.Should().Be(1);
        manager.UserKey.Should().Be("alice", "a warm manager remembers only whose it is");

        var bob = factory.TryAdmit("bob");
        _time.Advance(TimeSpan.FromSeconds(10));
        var second = factory.TryAdmit("alice");

        bob.Manager.Should().NotBeSameAs(manager, "a warm manager is kept for its own user");
        second.Manager.Should().BeSameAs(manager);
        second.Generation.Should().BeGreaterThan(first.Generation);
        factory.WarmCount.Should().Be(0);
        factory.Abandon(second);
        factory.Abandon(bob);
    }

    [Fact]
    public void ReuseWindow_Expired_ManagerIsResetIntoSharedPoolAndCarriesNothingToTheNextUser()
    {
        var factory = Create(o =>
        {
            o.ReuseWindow = TimeSpan.FromSeconds(30);
            o.MaxPooledManagers = 1;
        });
        var alice = factory.TryAdmit("alice");
        var manager = alice.Manager!;
        var aliceConnectionId = manager.GetConnectionId();
        manager.GetItems(alice.Generation)!["cart"] = "alice's";
        factory.Abandon(alice);
        manager.HasItems.Should().BeFalse("the lease's items are dropped the moment it ends");
        manager.GetItems(alice.Generation).Should().BeNull("an ended lease's items are out of reach");
        factory.WarmCount.Should().Be(1);
        factory.UserEntryCount.Should().Be(1);

        // Past the window and at least one sweep period (half the window, 1 s to 1 min).
        _time.Advance(TimeSpan.FromSeconds(46));

        factory.WarmCount.Should().Be(0);
        factory.PooledCount.Should().Be(1);
        factory.UserEntryCount.Should().Be(0, "a user with nothing left leaves no entry");
        manager.UserKey.Should().BeNull();
        manager.ConnectionId.Should().BeNull();
        manager.HasItems.Should().BeFalse();

        var bob = factory.TryAdmit("bob");
        bob.Manager.Should().BeSameAs(manager, "the shared pool hands the reset manager to the next user");
        manager.UserKey.Should().Be("bob");
        manager.GetItems(bob.Generation).Should().BeEmpty("a new lease starts with a new, empty bag");
        manager.GetConnectionId().Should().NotBe(aliceConnectionId, "connection ids are never reused");
        factory.PooledCount.Should().Be(0);
        factory.Abandon(bob);
    }

    [Fact]
    public void ReuseWindow_ExpiredWithoutSweep_TrimmedWhenTheUserIsTouchedAgain()
    {
        // Correctness never waits for the sweep: on the user's next admission the expired warm managers go back to the
        // shared pool, all but the newest, which the admission leases (same user, so nothing is gained by pooling it).
        var factory = Create(o => o.ReuseWindow = TimeSpan.FromSeconds(30));
        var older = factory.TryAdmit("alice");
        var newer = factory.TryAdmit("alice");
        factory.Abandon(older);
        factory.Abandon(newer);
        factory.WarmCount.Should().Be(2);
        _time.AdjustTime(_time.GetUtcNow() + TimeSpan.FromMinutes(5)); // moves the clock without firing timers

        var second = factory.TryAdmit("alice");

        second.IsAdmitted.Should().BeTrue();
        second.Manager.Should().BeSameAs(newer.Manager);
        factory.WarmCount.Should().Be(0);
        factory.PooledCount.Should().Be(1, "the older warm manager went back to the shared pool");
        factory.GetConnectionCount("alice").Should().Be(1);
        factory.Abandon(second);
    }

    [Fact]
    public void TryAdmit_MillionDistinctUsersWithoutReuseWindow_LeaveNoPerUserEntries()
    {
        const int Users = 1_000_000;
        var factory = Create(o =>
        {
            o.ReuseWindow = TimeSpan.Zero;
            o.MaxConnectionsPerUser = 1;
        });
        var watch = Stopwatch.StartNew();

        for (var i = 0; i < Users; i++)
        {
            var admission = factory.TryAdmit("user-" + i);
            factory.Abandon(admission);
        }

        output.WriteLine($"{Users:N0} admit + abandon of distinct users in {watch.ElapsedMilliseconds} ms");
        factory.UserEntryCount.Should().Be(0);
        factory.ActiveConnections.Should().Be(0);
        factory.WarmCount.Should().Be(0);
        factory.PooledCount.Should().BeLessThanOrEqualTo(factory.Options.MaxPooledManagers);
    }

    [Fact]
    public void TryAdmit_DistinctUsersWithReuseWindow_LeaveNoPerUserEntriesOnceTheWindowPasses()
    {
        const int Users = 100_000;
        var factory = Create(o => o.ReuseWindow = TimeSpan.FromSeconds(30));

        for (var i = 0; i < Users; i++)
        {
            factory.Abandon(factory.TryAdmit("user-" + i));
        }

        factory.UserEntryCount.Should().Be(Users, "each user's manager stays warm for the window");
        ExpireReuseWindow();
        factory.UserEntryCount.Should().Be(0);
        factory.WarmCount.Should().Be(0);
        factory.PooledCount.Should().BeLessThanOrEqualTo(factory.Options.MaxPooledManagers);
    }

    [Fact]
    public void TryAdmit_DistinctUsersWithConnectRateLimit_LeaveNoPerUserEntriesOnceBucketsRefill()
    {
        const int Users = 10_000;
        var factory = Create(o =>
        {
            o.ReuseWindow = TimeSpan.Zero;
            o.ConnectRateLimit = 10;
            o.ConnectRateBurst = 10;
        });

        for (var i = 0; i < Users; i++)
        {
            factory.Abandon(factory.TryAdmit("user-" + i));
        }

        // A bucket that is not full yet is state worth keeping; once every bucket has refilled, nothing is.
        _time.Advance(TimeSpan.FromMinutes(2));

        factory.UserEntryCount.Should().Be(0);
    }

    [Fact]
    public void Preview_AnyUser_ReservesNothingAndCreatesNoEntry()
    {
        var factory = Create(o => o.MaxConnectionsPerUser = 1);

        var preview = factory.Preview("alice");

        preview.IsAdmitted.Should().BeTrue();
        preview.StatusCode.Should().Be(200);
        preview.Manager.Should().BeNull();
        factory.UserEntryCount.Should().Be(0);
        var admission = factory.TryAdmit("alice");
        factory.Preview("alice").StatusCode.Should().Be(429);
        factory.GetConnectionCount("alice").Should().Be(1);
        factory.Abandon(admission);
    }

    [Fact]
    public void TryAdmit_Draining_Refuses503AndReservesNothing()
    {
        var factory = Create();
        factory.BeginDrain();

        var admission = factory.TryAdmit("alice");

        admission.StatusCode.Should().Be(503);
        admission.RejectionReason.Should().Be(RejectionReasons.Draining);
        admission.RetryAfter.Should().NotBeNull();
        factory.ActiveConnections.Should().Be(0);
        factory.UserEntryCount.Should().Be(0);
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

    /// <summary>Moves the fake clock past the default reuse window and through several sweep periods.</summary>
    private void ExpireReuseWindow()
    {
        for (var i = 0; i < 4; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(15));
        }
    }

    private static void RunThreads(int count, Action body)
    {
        Exception? failure = null;
        var threads = Enumerable.Range(0, count).Select(_ => new Thread(() =>
        {
            try
            {
                body();
            }
#pragma warning disable CA1031 // Carried to the test thread below.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Interlocked.CompareExchange(ref failure, ex, null);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        foreach (var thread in threads)
        {
            thread.Join(TimeSpan.FromMinutes(1)).Should().BeTrue("every worker finishes");
        }

        if (failure is not null)
        {
            throw new InvalidOperationException("A worker thread failed.", failure);
        }
    }

    private static void RaiseMax(ref int max, int value)
    {
        var seen = Volatile.Read(ref max);
        while (value > seen)
        {
            var previous = Interlocked.CompareExchange(ref max, value, seen);
            if (previous == seen)
            {
                return;
            }

            seen = previous;
        }
    }

    [Fact]
    public void ReturnToPool_ThreadsReturningAtTheCap_PooledCountMatchesWhatThePoolHolds()
    {
        // Arrange: no reuse window, so every release goes to a shared pool that keeps only two.
        const int Cap = 2;
        var factory = Create(o =>
        {
            o.ReuseWindow = TimeSpan.Zero;
            o.MaxPooledManagers = Cap;
            o.MaxConnectionsPerUser = 8;
            o.MaxConnections = 1_000;
        });

        // Act: eight threads each lease three managers and give them back, so returns race for the last places.
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, thread =>
        {
            var user = "u" + thread.ToString(System.Globalization.CultureInfo.InvariantCulture);
            for (var i = 0; i < 100_000; i++)
            {
                var a = factory.TryAdmit(user);
                var b = factory.TryAdmit(user);
                var c = factory.TryAdmit(user);
                factory.Abandon(a);
                factory.Abandon(b);
                factory.Abandon(c);
            }
        });

        // Assert: the count never exceeds what the pool keeps, and taking every pooled manager brings it to exactly zero.
        factory.PooledCount.Should().BeInRange(0, Cap);
        var held = Enumerable.Range(0, Cap + 3).Select(i => factory.TryAdmit("taker" + i.ToString(System.Globalization.CultureInfo.InvariantCulture))).ToList();
        factory.PooledCount.Should().Be(0, "every manager the count claimed was really in the pool");
        held.ForEach(h => factory.Abandon(h));
    }
}

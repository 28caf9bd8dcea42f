// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Time.Testing;

namespace WebSocketPool.IntegrationTests.Reliability;

/// <summary>
/// The invariant every reliability scenario ends with, checked through the public snapshot and the self-audit:
/// the counted leases equal the open sockets, every user's count is its true value, no warm manager remembers its last
/// connection, and — across repeated rounds of a scenario — nothing the pool keeps (per-user entries, pooled and warm
/// managers, groups) grows.
/// </summary>
internal static class PoolInvariants
{
    /// <summary>The time a scenario's connections get to end and be released; generous, never a timing assertion.</summary>
    public static readonly TimeSpan SettleDeadline = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Waits until the pool has settled on <paramref name="expected"/> open connections per user (none when omitted),
    /// then proves it: snapshot, audit, per-user counts, open managers and warm managers.
    /// </summary>
    public static async Task AssertSettledAsync(PoolTestServer server, IReadOnlyDictionary<string, int>? expected = null, int expectedGroups = 0)
    {
        var factory = server.Factory;
        expected ??= new Dictionary<string, int>();
        var total = expected.Values.Sum();
        // Slots are free the instant a socket ends; the lease itself ends a moment later, once OnDisconnectedAsync has
        // returned. Settled means both: no lease is still finishing.
        await PoolTestServer.WaitUntilAsync(
            () => factory.ActiveConnections == total && factory.OpenConnectionCount == total && LeaseCount(factory) == total,
            SettleDeadline,
            $"the pool settles on {total} connections (active {factory.ActiveConnections}, open sockets {factory.OpenConnectionCount}, leases {LeaseCount(factory)})");

        var audit = factory.Audit();
        audit.Mismatches.Should().Be(0, "the self-audit finds the counters equal to the sockets");

        var snapshot = factory.GetSnapshot(1000);
        snapshot.ActiveConnections.Should().Be(total);
        snapshot.ActiveConnections.Should().Be(factory.OpenConnectionCount, "the active count equals the open sockets");
        snapshot.Users.Sum(u => u.Connections).Should().Be(total, "the users' counts add up to the node's count");
        snapshot.UserCount.Should().Be(expected.Count(e => e.Value > 0));
        foreach (var (user, count) in expected)
        {
            factory.GetConnectionCount(user).Should().Be(count, $"user '{user}' holds exactly {count} connections");
        }

        foreach (var user in snapshot.Users)
        {
            expected.GetValueOrDefault(user.User).Should().Be(user.Connections, $"user '{user.User}' is listed with its true count");
        }

        foreach (var (_, manager) in factory.OpenConnections)
        {
            manager.HoldsSlot.Should().BeTrue("every open socket holds a counted slot");
            manager.UserKey.Should().NotBeNull();
        }

        AssertWarmManagersClean(factory);
        factory.Groups.Count.Should().Be(expectedGroups, "released connections leave their groups and empty groups go");
    }

    /// <summary>Every warm manager (kept for its user's next connection) has forgotten its last connection entirely.</summary>
    public static void AssertWarmManagersClean(PooledWebSocketManagerFactory factory)
    {
        foreach (var entry in factory.UserEntries)
        {
            lock (entry)
            {
                entry.Count.Should().BeGreaterThanOrEqualTo(0);
                foreach (var manager in entry.Warm ?? [])
                {
                    manager.ConnectionId.Should().BeNull("a warm manager has no connection");
                    manager.HasSocket.Should().BeFalse("a warm manager holds no socket");
                    manager.IsOpenForSend.Should().BeFalse("a warm manager accepts no send");
                    manager.HasSendQueue.Should().BeFalse("a warm manager has no send queue");
                    manager.HoldsSlot.Should().BeFalse("a warm manager counts against nothing");
                    manager.HasGroups.Should().BeFalse("a warm manager is in no group");
                    manager.HasItems.Should().BeFalse("a warm manager keeps none of the app's per-connection state");
                    manager.HasRequest.Should().BeFalse("a warm manager keeps nothing of its last request");
                    manager.HasScope.Should().BeFalse("a warm manager holds no service scope");
                    manager.UserKey.Should().Be(entry.UserKey, "a warm manager is kept only for its own user");
                    entry.Active.Should().NotContain(manager);
                }
            }
        }
    }

    /// <summary>The leases not yet ended: every user's live managers, read under each user's lock.</summary>
    public static int LeaseCount(PooledWebSocketManagerFactory factory)
    {
        var leases = 0;
        foreach (var entry in factory.UserEntries)
        {
            lock (entry)
            {
                leases += entry.Active.Count;
            }
        }

        return leases;
    }

    public static PoolCounts Measure(PooledWebSocketManagerFactory factory) =>
        new(factory.UserEntryCount, factory.PooledCount, factory.WarmCount, factory.Groups.Count);

    /// <summary>
    /// Runs <paramref name="round"/> <see cref="ReliabilitySettings.Rounds"/> times against one server. After each round the
    /// invariant must hold; then the reuse window is made to pass on <paramref name="time"/> (when given), and the
    /// pool's bookkeeping is measured. Nothing may grow: the last round ends at or below the first rounds' figures, or,
    /// for scenarios whose rounds overlap connections by chance, managers stay within <paramref name="peakConnections"/>.
    /// </summary>
    public static async Task<IReadOnlyList<PoolCounts>> AssertNoGrowthAsync(
        PoolTestServer server,
        Func<int, Task> round,
        FakeTimeProvider? time = null,
        int? rounds = null,
        IReadOnlyDictionary<string, int>? expected = null,
        int? peakConnections = null)
    {
        var factory = server.Factory;
        var reuseWindow = factory.Options.ReuseWindow;
        var counts = new List<PoolCounts>();
        var total = rounds ?? ReliabilitySettings.Rounds;
        for (var i = 0; i < total; i++)
        {
            await round(i);
            await AssertSettledAsync(server, expected);
            if (time is not null && reuseWindow > TimeSpan.Zero)
            {
                // The reuse window passes: the sweep (and any touch of a user) returns warm managers to the shared pool.
                time.Advance(reuseWindow + TimeSpan.FromSeconds(1));
                factory.SweepWarmManagers();
                factory.WarmCount.Should().Be(0, "warm managers go back to the shared pool once the reuse window passed");
                factory.UserEntryCount.Should().Be(expected?.Count(e => e.Value > 0) ?? 0, "a user with no connections and no warm managers leaves no entry");
            }

            counts.Add(Measure(factory));
        }

        var baseline = counts.Take(Math.Min(3, counts.Count)).ToList();
        var last = counts[^1];
        last.UserEntries.Should().BeLessThanOrEqualTo(baseline.Max(c => c.UserEntries), $"per-user entries do not grow across rounds: {string.Join(", ", counts)}");
        if (peakConnections is { } peak)
        {
            // Concurrent scenarios: how many managers exist depends on how many connections overlapped, which varies a
            // little from round to round; a leak would grow with the rounds and pass any bound that does not.
            counts.Should().OnlyContain(c => c.Pooled + c.Warm <= peak, $"managers never outnumber the {peak} connections a round holds at once: {string.Join(", ", counts)}");
        }
        else
        {
            last.Pooled.Should().BeLessThanOrEqualTo(baseline.Max(c => c.Pooled), $"pooled managers do not grow across rounds: {string.Join(", ", counts)}");
            last.Warm.Should().BeLessThanOrEqualTo(baseline.Max(c => c.Warm), $"warm managers do not grow across rounds: {string.Join(", ", counts)}");
        }

        last.Groups.Should().BeLessThanOrEqualTo(baseline.Max(c => c.Groups), $"groups do not grow across rounds: {string.Join(", ", counts)}");
        last.Pooled.Should().BeLessThanOrEqualTo(factory.Options.MaxPooledManagers);
        return counts;
    }

    /// <summary>What the pool keeps between connections, by count (not bytes).</summary>
    public readonly record struct PoolCounts(int UserEntries, int Pooled, int Warm, int Groups)
    {
        public override string ToString() => $"[users {UserEntries}, pooled {Pooled}, warm {Warm}, groups {Groups}]";
    }
}

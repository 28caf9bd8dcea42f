// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using WebSocketPool.Redis.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WebSocketPool.Redis.Tests.Bus;

/// <summary>A node hears a user's or a group's sends only while it holds one of their connections; everyone's sends reach every node.</summary>
[Collection(UsesRedis.Name)]
public sealed class InterestRoutingTests(RedisServerFixture redis, ITestOutputHelper output)
{
    private const string ReceivedBytes = "websocketpool.redis.bus.received_bytes";

    [Fact]
    public async Task Sends_UserAndGroupOnlyOnNodeA_NodeBReceivesNoBusBytesWhileBroadcastReachesBoth()
    {
        // Arrange: yara (a member of "deck") on A; zed on B.
        var prefix = "t" + Guid.NewGuid().ToString("N")[..12];
        await using var a = await PoolNode.StartAsync(redis.Server.Configuration, prefix);
        await using var b = await PoolNode.StartAsync(redis.Server.Configuration, prefix);
        var yara = await a.ConnectAsync("yara");
        var zed = await b.ConnectAsync("zed");
        await a.WaitOpenAsync("yara", 1);
        await b.WaitOpenAsync("zed", 1);
        await yara.SendTextAsync("join:deck");
        (await yara.ReceiveTextAsync()).Should().Be("joined");
        using var bBytes = new MetricCollector<long>(b.Meters, "WebSocketPool", ReceivedBytes);
        using var aBytes = new MetricCollector<long>(a.Meters, "WebSocketPool", ReceivedBytes);

        // Act 1: sends to yara and to deck, from both nodes, 100 of each.
        for (var i = 0; i < 100; i++)
        {
            await a.Sender.SendTextToUserAsync("yara", "u" + i);
            await b.Sender.SendTextToUserAsync("yara", "u" + i);
            await a.Sender.SendTextToGroupAsync("deck", "g" + i);
            await b.Sender.SendTextToGroupAsync("deck", "g" + i);
        }

        // Assert 1: yara got all 400; B, which holds neither yara nor a member of deck, received no byte of them.
        for (var i = 0; i < 400; i++)
        {
            await yara.ReceiveTextAsync();
        }

        await a.Sender.SendTextToAllAsync("everyone");
        (await yara.ReceiveTextAsync()).Should().Be("everyone");
        (await zed.ReceiveTextAsync()).Should().Be("everyone", "a broadcast still reaches every node");
        var bTotals = Totals(bBytes);
        output.WriteLine($"B received by channel kind: {string.Join(", ", bTotals.Select(p => $"{p.Key}={p.Value} B"))}");
        bTotals.GetValueOrDefault("user").Should().Be(0, "B holds none of yara's connections");
        bTotals.GetValueOrDefault("group").Should().Be(0, "B holds no member of deck");
        bTotals.GetValueOrDefault("all").Should().BeGreaterThan(0, "B hears the broadcast");
        Totals(aBytes).GetValueOrDefault("user").Should().BeGreaterThan(0, "A hears yara's channel (B's 100 sends came that way)");

        // Act 2: yara leaves; A stops hearing her channel and the group's.
        await yara.CloseQuietlyAsync();
        var userChannel = a.Bus.Channels.User("yara");
        var groupChannel = a.Bus.Channels.Group("deck");
        await Conditions.PollAsync(() => !a.Bus.Subscriptions.IsSubscribed(userChannel) && !a.Bus.Subscriptions.IsSubscribed(groupChannel),
            Clients.Deadline, "A unsubscribed after the last local connection of yara (and member of deck) ended");
        aBytes.Clear();
        await b.Sender.SendTextToUserAsync("yara", "nobody");
        await b.Sender.SendTextToGroupAsync("deck", "nobody");
        await b.Sender.SendTextToAllAsync("marker");
        (await zed.ReceiveTextAsync()).Should().Be("marker");
        await Conditions.PollAsync(() => Totals(aBytes).GetValueOrDefault("all") > 0, Clients.Deadline, "A received the marker");

        // Assert 2
        Totals(aBytes).GetValueOrDefault("user").Should().Be(0);
        Totals(aBytes).GetValueOrDefault("group").Should().Be(0);
        (await redis.Server.CommandAsync("pubsub", "numsub", userChannel)).Should().EndWith("0", "no node hears yara any more");
        await zed.CloseQuietlyAsync();
    }

    [Fact]
    public async Task ConnectClose_NewUserEachTimeVersusUserAlreadyHeld_SubscribesOnlyForTheFirstConnectionAndReportsTheRates()
    {
        // Arrange: a warm-up of each kind, then blocks of each kind in turn (the machine is shared: medians are reported).
        const int Rounds = 150;
        const int Blocks = 3;
        var prefix = "t" + Guid.NewGuid().ToString("N")[..12];
        await using var a = await PoolNode.StartAsync(redis.Server.Configuration, prefix);
        using var changes = new MetricCollector<long>(a.Meters, "WebSocketPool", "websocketpool.redis.bus.subscription_changes");
        var held = await a.ConnectAsync("held");
        await a.WaitOpenAsync("held", 1);
        var baseline = a.Bus.Subscriptions.SubscribedCount;
        await ChurnAsync(a, Rounds, i => "warm" + i);
        await ChurnAsync(a, Rounds, _ => "held");
        await Conditions.PollAsync(() => a.Bus.Subscriptions.SubscribedCount == baseline, Clients.Deadline, "the warm-up's channels are gone again");
        changes.Clear();
        var fresh = new List<double>();
        var same = new List<double>();
        long freshChanges = 0, sameChanges = 0;

        // Act: a new user each round (its channel subscribed at connect, unsubscribed after close), then the same user,
        // who keeps one connection open (no subscription change at all).
        for (var block = 0; block < Blocks; block++)
        {
            fresh.Add(Rounds / (await ChurnAsync(a, Rounds, i => $"churn{block}-{i}")).TotalSeconds);
            await Conditions.PollAsync(() => a.Bus.Subscriptions.SubscribedCount == baseline, Clients.Deadline, "every new user's channel is gone again");
            freshChanges += changes.GetMeasurementSnapshot().Sum(m => m.Value);
            changes.Clear();
            same.Add(Rounds / (await ChurnAsync(a, Rounds, _ => "held")).TotalSeconds);
            sameChanges += changes.GetMeasurementSnapshot().Sum(m => m.Value);
            changes.Clear();
        }

        // Assert
        output.WriteLine($"Connect+close per second, median of {Blocks} blocks of {Rounds}: a new user each time (subscribe + unsubscribe) "
            + $"{Median(fresh):F0}/s [{string.Join(", ", fresh.Select(r => r.ToString("F0")))}]; the same user, already heard "
            + $"{Median(same):F0}/s [{string.Join(", ", same.Select(r => r.ToString("F0")))}]. Reported, not asserted.");
        freshChanges.Should().Be(2 * Rounds * Blocks, "one subscribe and one unsubscribe per new user");
        sameChanges.Should().Be(0, "a user already heard costs no subscription");
        a.Bus.Subscriptions.SubscribedCount.Should().Be(baseline);
        await held.CloseQuietlyAsync();
    }

    private static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

    private static async Task<TimeSpan> ChurnAsync(PoolNode node, int rounds, Func<int, string> user)
    {
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < rounds; i++)
        {
            var socket = await node.ConnectAsync(user(i));
            await socket.CloseQuietlyAsync();
        }

        var elapsed = watch.Elapsed;
        await Conditions.PollAsync(() => node.Factory.ActiveConnections <= 1 && node.Bus.Interests.Count <= 1, Clients.Deadline,
            "every churned connection has ended");
        return elapsed;
    }

    private static Dictionary<string, long> Totals(MetricCollector<long> bytes) =>
        bytes.GetMeasurementSnapshot()
            .GroupBy(m => (string)m.Tags["websocketpool.redis.bus.channel"]!)
            .ToDictionary(g => g.Key, g => g.Sum(m => m.Value));
}

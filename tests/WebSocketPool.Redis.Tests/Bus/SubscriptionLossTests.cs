// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using WebSocketPool.Redis.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WebSocketPool.Redis.Tests.Bus;

/// <summary>The pub/sub side of Redis lost or refused while the rest of Redis answers.</summary>
[Collection(UsesRedis.Name)]
public sealed class SubscriptionLossTests(RedisServerFixture redis, ITestOutputHelper output)
{
    private static readonly TimeSpan s_recovery = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ClientKillPubSub_HealthDegradedThenHealthy_CrossNodeSendsDeliveredOnce()
    {
        // Arrange
        var prefix = "t" + Guid.NewGuid().ToString("N")[..12];
        await using var a = await PoolNode.StartAsync(redis.Server.Configuration, prefix);
        await using var b = await PoolNode.StartAsync(redis.Server.Configuration, prefix);
        using var resubscriptions = new MetricCollector<long>(b.Meters, "WebSocketPool", "websocketpool.redis.bus.resubscriptions");
        var val = await b.ConnectAsync("val");
        await val.SendTextAsync("join:crew");
        (await val.ReceiveTextAsync()).Should().Be("joined");

        // Act: Redis drops every pub/sub connection (both nodes'); the interactive ones stay.
        var degraded = Task.Run(() => Conditions.WaitAsync(() => b.RedisHealthNow() == HealthStatus.Degraded, s_recovery,
            "B's health says Degraded while it cannot hear the bus"));
        var killed = await redis.Server.CommandAsync("client", "kill", "type", "pubsub");
        output.WriteLine($"CLIENT KILL TYPE pubsub closed {killed} connections.");
        var seen = await degraded;
        var back = await Conditions.WaitAsync(async () => await b.RedisHealthAsync() == HealthStatus.Healthy
            && await a.RedisHealthAsync() == HealthStatus.Healthy, s_recovery, "both nodes hear the bus again");
        output.WriteLine($"Degraded seen after {seen.TotalMilliseconds:F0} ms, Healthy {back.TotalMilliseconds:F0} ms later; reported, not asserted.");

        // Assert
        resubscriptions.GetMeasurementSnapshot().Sum(m => m.Value).Should().BeGreaterThanOrEqualTo(1, "B counted its recovery");
        await a.Sender.SendTextToUserAsync("val", "user-1");
        await a.Sender.SendTextToGroupAsync("crew", "group-1");
        await a.Sender.SendTextToAllAsync("all-1");

        // Each exactly once (three channels: they have no common order): after the three, a marker is the very next message.
        var received = new[] { await val.ReceiveTextAsync(), await val.ReceiveTextAsync(), await val.ReceiveTextAsync() };
        received.Should().BeEquivalentTo(["user-1", "group-1", "all-1"]);
        await a.Sender.SendTextToUserAsync("val", "marker");
        (await val.ReceiveTextAsync()).Should().Be("marker", "no message arrived twice");
        await val.CloseQuietlyAsync();
    }

    [Fact]
    public async Task BaseSubscribe_OwnChannelRefused_UnsubscribesTheOtherAndLaterHearsOnce()
    {
        // Arrange: B's Redis user may use every key but, at first, only the channel every node hears, not its own.
        var prefix = "t" + Guid.NewGuid().ToString("N")[..12];
        var user = "node-" + prefix;
        var all = "{" + prefix + "}:bus";
        await redis.Server.CommandAsync("acl", "setuser", user, "on", ">secret", "~*", "+@all", "resetchannels", "&" + all);
        try
        {
            await using var a = await PoolNode.StartAsync(redis.Server.Configuration, prefix);
            using var errors = new MetricCollector<long>(a.Meters, "WebSocketPool", "websocketpool.redis.errors");
            await using var b = await PoolNode.StartAsync($"{redis.Server.Configuration},user={user},password=secret", prefix, waitForRedis: false);
            using var bErrors = new MetricCollector<long>(b.Meters, "WebSocketPool", "websocketpool.redis.errors");
            await Conditions.PollAsync(() => bErrors.GetMeasurementSnapshot().Any(m => Equals(m.Tags["websocketpool.redis.operation"], "subscribe")),
                s_recovery, "B tried to subscribe and was refused its own channel");

            // Assert (partial failure): B does not stay half-subscribed (only A hears the channel every node hears), and its
            // client keeps no registration of the refused channel (a queue nobody reads, subscribed again at a reconnect).
            await Conditions.WaitAsync(async () => await NumSubAsync(all) == 1 && b.ClientChannelRegistrations() == 0, Clients.Deadline,
                "B unsubscribed what it had subscribed and forgot what it was refused");
            (await b.RedisHealthAsync()).Should().Be(HealthStatus.Degraded, "B cannot hear the bus");

            // Act: the channel is granted; B's next renewal tick subscribes both.
            await redis.Server.CommandAsync("acl", "setuser", user, "allchannels");
            await Conditions.WaitAsync(async () => await b.RedisHealthAsync() == HealthStatus.Healthy, s_recovery, "B hears the bus");
            var zed = await b.ConnectAsync("zed");
            await b.WaitOpenAsync("zed", 1);

            // Assert: one subscription each, and a broadcast arrives once.
            (await NumSubAsync(all)).Should().Be(2);
            (await NumSubAsync("{" + prefix + "}:node:" + b.Factory.NodeId)).Should().Be(1);
            b.ClientChannelRegistrations().Should().Be(b.Bus.Subscriptions.SubscribedCount, "the client holds what B holds, nothing more");
            await a.Sender.SendTextToAllAsync("once");
            (await zed.ReceiveTextAsync()).Should().Be("once");
            await a.Sender.SendTextToUserAsync("zed", "marker");
            (await zed.ReceiveTextAsync()).Should().Be("marker", "the broadcast was not delivered twice");
            await zed.CloseQuietlyAsync();
        }
        finally
        {
            await redis.Server.CommandAsync("acl", "deluser", user);
        }
    }

    private async Task<long> NumSubAsync(string channel)
    {
        var reply = (await redis.Server.CommandAsync("pubsub", "numsub", channel)).Split('\n');
        return long.Parse(reply[^1].Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }
}

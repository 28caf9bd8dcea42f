// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;
using System.Globalization;
using System.Net.WebSockets;
using WebSocketPool.Redis.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WebSocketPool.Redis.Tests.Presence;

/// <summary>Presence at real size: a list read in pages, then one change at a time at constant Redis cost.</summary>
[Collection(UsesRedis.Name)]
public sealed class ClusterPresenceTests(RedisServerFixture redis, ITestOutputHelper output)
{
    private const int Users = 2000;

    // Connection upkeep the measured window may contain whatever it measures; everything else is counted.
    private static readonly string[] s_upkeep = ["ping", "echo", "info", "config|resetstat", "client|setname", "cluster|nodes", "subscribe", "unsubscribe"];

    [Fact]
    public async Task Watch_OneChangeAmong2000OnlineUsers_DeliveredToAnotherNodeAtConstantRedisCost()
    {
        // Arrange: 2,000 users online, half on each node. An hour-long lease TTL keeps renewals out of the measured window.
        var prefix = "t" + Guid.NewGuid().ToString("N")[..12];
        void Redis(RedisWebSocketPoolOptions o) => o.LeaseTtl = TimeSpan.FromHours(1);
        await using var a = await PoolNode.StartAsync(redis.Server.Configuration, prefix, redis: Redis);
        await using var b = await PoolNode.StartAsync(redis.Server.Configuration, prefix, redis: Redis);
        var sockets = new List<ClientWebSocket>(Users);
        try
        {
            for (var batch = 0; batch < Users; batch += 100)
            {
                sockets.AddRange(await Task.WhenAll(Enumerable.Range(batch, 100)
                    .Select(i => (i % 2 == 0 ? a : b).ConnectAsync("user" + i.ToString("D4", CultureInfo.InvariantCulture)))));
            }

            var list = await a.Presence.GetOnlineUsersAsync();
            list.Should().HaveCount(Users).And.OnlyContain(u => u.Connections == 1);
            var changes = new ConcurrentQueue<UserConnectionCount>();
            await using var watch = await b.Presence.WatchAsync(change =>
            {
                changes.Enqueue(change);
                return ValueTask.CompletedTask;
            });

            // Act: one user comes and goes on A, watched from B; Redis counts every command meanwhile.
            await redis.Server.CommandAsync("config", "resetstat");
            var newcomer = await a.ConnectAsync("newcomer");
            await Conditions.PollAsync(() => changes.Any(c => c is { User: "newcomer", Connections: 1 }), Clients.Deadline, "B hears newcomer arrive");
            await newcomer.CloseQuietlyAsync();
            await Conditions.PollAsync(() => changes.Any(c => c is { User: "newcomer", Connections: 0 }), Clients.Deadline, "B hears newcomer leave");
            var change = await CommandCallsAsync();

            // ...and, for comparison, the whole list read once.
            await redis.Server.CommandAsync("config", "resetstat");
            (await b.Presence.GetOnlineUsersAsync()).Should().HaveCount(Users);
            var read = await CommandCallsAsync();

            // Assert
            output.WriteLine($"A connect and a close with {Users} users online: {change.Values.Sum()} commands ({Describe(change)}). "
                + $"Reading the list: {read.Values.Sum()} commands ({Describe(read)}).");
            change.Values.Sum().Should().BeLessThan(60, "a change costs a constant number of commands, whatever the number of users online");
            change.Keys.Should().NotContain(["sscan", "smembers"], "no change walks the online users");
            read.GetValueOrDefault("sscan").Should().BeGreaterThanOrEqualTo(Users / 256, "the list is read in pages");
            read.Values.Sum().Should().BeGreaterThan(Users, "reading the list is O(users): that is why a change never does it");
        }
        finally
        {
            foreach (var socket in sockets)
            {
                await socket.CloseQuietlyAsync();
            }
        }
    }

    [Fact]
    public async Task Watch_ChangesOnBothNodes_EveryWatcherSeesTheCountsInOrderAndStopsAfterDispose()
    {
        // Arrange
        var prefix = "t" + Guid.NewGuid().ToString("N")[..12];
        await using var a = await PoolNode.StartAsync(redis.Server.Configuration, prefix);
        await using var b = await PoolNode.StartAsync(redis.Server.Configuration, prefix);
        var seen = new ConcurrentQueue<UserConnectionCount>();
        var watch = await a.Presence.WatchAsync(change =>
        {
            seen.Enqueue(change);
            return ValueTask.CompletedTask;
        });
        var presenceChannel = a.Bus.Channels.Presence;
        a.Bus.Subscriptions.IsSubscribed(presenceChannel).Should().BeTrue("WatchAsync completes once the node hears presence");
        b.Bus.Subscriptions.IsSubscribed(presenceChannel).Should().BeFalse("a node that does not watch does not hear presence");

        // Act: one user's connections on both nodes come and go.
        var first = await a.ConnectAsync("ines");
        var second = await b.ConnectAsync("ines");
        await Conditions.PollAsync(() => seen.Count(c => c.User == "ines") == 2, Clients.Deadline, "both arrivals");
        await second.CloseQuietlyAsync();
        await first.CloseQuietlyAsync();
        await Conditions.PollAsync(() => seen.Count(c => c.User == "ines") == 4, Clients.Deadline, "both departures");

        // Assert: counts in order (each the count after its change), ending offline.
        seen.Where(c => c.User == "ines").Select(c => c.Connections).Should().Equal(1, 2, 1, 0);

        // Act 2: after the watch is disposed the node stops hearing presence.
        await watch.DisposeAsync();
        await Conditions.PollAsync(() => !a.Bus.Subscriptions.IsSubscribed(presenceChannel), Clients.Deadline, "A unsubscribed presence");
        var later = await a.ConnectAsync("jon");
        await a.WaitOpenAsync("jon", 1);
        (await redis.Server.CommandAsync("pubsub", "numsub", presenceChannel)).Should().EndWith("0");
        seen.Should().NotContain(c => c.User == "jon");
        await later.CloseQuietlyAsync();
    }

    private async Task<Dictionary<string, long>> CommandCallsAsync()
    {
        var calls = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var line in (await redis.Server.CommandAsync("info", "commandstats")).Split('\n'))
        {
            // cmdstat_evalsha:calls=3,usec=...
            if (line.StartsWith("cmdstat_", StringComparison.Ordinal) && line.IndexOf(":calls=", StringComparison.Ordinal) is var at and > 0)
            {
                var name = line[8..at];
                var count = line[(at + 7)..line.IndexOf(',', at)];
                if (!s_upkeep.Contains(name))
                {
                    calls[name] = long.Parse(count, CultureInfo.InvariantCulture);
                }
            }
        }

        return calls;
    }

    private static string Describe(Dictionary<string, long> calls) =>
        string.Join(", ", calls.OrderByDescending(p => p.Value).Select(p => $"{p.Key} {p.Value}"));
}

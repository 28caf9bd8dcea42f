// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using System.Net.WebSockets;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;
using WebSocketPool.Redis.Internal;
using WebSocketPool.Redis.Tests.Infrastructure;

namespace WebSocketPool.Redis.Tests;

/// <summary>
/// The cluster stays exact when a node or Redis misbehaves: a paused node comes back through the limit, Redis losing its
/// data or flapping loses no release and revives no released lease, and renewal costs the same for 10 users as for 2,000.
/// </summary>
[Collection(UsesRedis.Name)]
public sealed class LeaseRecoveryTests(RedisServerFixture redis)
{
    private static string NewPrefix() => "t" + Guid.NewGuid().ToString("N")[..12];

    [Fact]
    public async Task PausedNode_LongerThanTheTtl_ReadmitsThroughTheLimitAndClosesTheOverflowWith4001()
    {
        // Arrange: node A (the EchoServer in its own process) holds all three of olga's slots.
        var prefix = NewPrefix();
        await using var a = await NodeHealth.StartHealthyAsync(SampleServers.EchoServer(
            $"--Redis:Configuration={redis.Server.Configuration}",
            $"--Redis:Prefix={prefix}",
            "--Redis:LeaseTtl=00:00:02",
            "--Redis:OperationTimeout=00:00:01",
            "--Redis:FailurePolicy=FailClosed",
            "--WebSocketPool:MaxConnectionsPerUser=3"));
        await using var b = await PoolNode.StartAsync(redis.Server.Configuration, prefix, o => o.MaxConnectionsPerUser = 3,
            r => r.FailurePolicy = RedisFailurePolicy.FailClosed);
        var onA = new List<ClientWebSocket>();
        for (var i = 0; i < 3; i++)
        {
            onA.Add(await Clients.ConnectAsync(a.BaseUri.WebSocketUri("olga")));
        }

        (await b.ClusterCountAsync("olga")).Should().Be(3);
        var closes = onA.Select(socket => socket.ReceiveCloseAsync(TimeSpan.FromSeconds(60))).ToList();

        // Act: A stops (SIGSTOP) for longer than the TTL. Its heartbeat lapses, B takes two of olga's places meanwhile.
        Signal(a.Id, "STOP");
        List<ClientWebSocket> onB;
        try
        {
            await Conditions.WaitAsync(async () => await b.ClusterCountAsync("olga") == 0, TimeSpan.FromSeconds(20),
                "A's leases died with its heartbeat");
            onB = [await b.ConnectAsync("olga"), await b.ConnectAsync("olga")];
        }
        finally
        {
            Signal(a.Id, "CONT");
        }

        // Assert: A re-admits its three through the limit: one fits, two are closed with 4001; the cluster holds three.
        await Conditions.PollAsync(() => closes.Count(close => close.IsCompleted) >= 2, TimeSpan.FromSeconds(30),
            "A closed the connections that no longer fit");
        var closed = closes.Where(close => close.IsCompleted).ToList();
        closed.Should().HaveCount(2, "one of A's connections fits under the limit and stays open");
        foreach (var close in closed)
        {
            (await close).Should().Be(WebSocketCloseCodes.Evicted);
        }

        (await b.ClusterCountAsync("olga")).Should().Be(3, "the cluster ends at the limit, never above it");
        (await b.TryConnectStatusAsync("olga")).Should().Be(429);

        foreach (var socket in onA)
        {
            socket.Abort();
        }

        foreach (var socket in onB)
        {
            await socket.CloseQuietlyAsync();
        }

        await Conditions.WaitAsync(async () => await b.ClusterCountAsync("olga") == 0, Clients.Deadline, "every release reached Redis");
    }

    [Fact]
    public async Task RedisLosesItsData_NodePutsItsLeasesBackAsTheyWere()
    {
        await using var server = await RedisServer.StartNewAsync();
        var prefix = NewPrefix();
        await using var node = await PoolNode.StartAsync(server.Configuration, prefix, o => o.MaxConnectionsPerUser = 2);
        var sockets = new List<ClientWebSocket>();
        for (var user = 0; user < 50; user++)
        {
            sockets.Add(await node.ConnectAsync($"u{user}"));
            sockets.Add(await node.ConnectAsync($"u{user}"));
        }

        var epoch = node.App.Services.GetRequiredService<NodeHeartbeat>().Epoch;

        // Act: Redis restarts empty (no persistence).
        await server.ShutdownAsync();
        await server.StartAsync();

        // Assert: the node finds a new epoch and registers its 100 leases again, unchecked; the limits hold again.
        var heartbeat = node.App.Services.GetRequiredService<NodeHeartbeat>();
        await Conditions.WaitAsync(async () =>
        {
            if (heartbeat.Epoch == epoch)
            {
                return false;
            }

            // Counts read from Redis itself (null while it does not answer), never the node's local fallback.
            for (var user = 0; user < 50; user++)
            {
                if (await node.ClusterCountAsync($"u{user}") != 2)
                {
                    return false;
                }
            }

            return true;
        }, TimeSpan.FromSeconds(30), "the node found a new epoch and registered every lease again");
        (await node.TryConnectStatusAsync("u7")).Should().Be(429);

        foreach (var socket in sockets)
        {
            await socket.CloseQuietlyAsync();
        }

        await Conditions.WaitAsync(node.NoLeasesInRedisAsync, Clients.Deadline, "every release reached Redis");
    }

    [Fact]
    public async Task RedisFlaps_WhileHundredsOfReleasesWait_EveryReleaseLandsAndNothingSpins()
    {
        await using var server = await RedisServer.StartNewAsync();
        var prefix = NewPrefix();
        await using var node = await PoolNode.StartAsync(server.Configuration, prefix, o => o.MaxConnectionsPerUser = 3,
            r => r.LeaseTtl = TimeSpan.FromSeconds(60));
        var sockets = new List<ClientWebSocket>();
        for (var user = 0; user < 100; user++)
        {
            for (var i = 0; i < 3; i++)
            {
                sockets.Add(await node.ConnectAsync($"f{user}"));
            }
        }

        // Redis goes away (keeping its data) while all 300 connections close: their releases wait.
        await server.ShutdownAsync(keepData: true);
        foreach (var socket in sockets)
        {
            await socket.CloseQuietlyAsync();
        }

        await Conditions.PollAsync(() => node.Factory.ActiveConnections == 0 && node.Gate.LeaseCount == 0, Clients.Deadline,
            "every slot was given up on the node");
        node.Gate.PendingReleaseCount.Should().Be(300, "no release could reach Redis");

        // Act: Redis comes back and flaps: its clients are cut three times while the node drains the releases.
        await server.StartAsync();
        for (var i = 0; i < 3; i++)
        {
            await server.KillClientsAsync("normal");
        }

        // Assert: every release landed (the leases of a live node would otherwise stay forever), and the node serves.
        await Conditions.WaitAsync(async () => node.Gate.PendingReleaseCount == 0 && await node.NoLeasesInRedisAsync(),
            TimeSpan.FromSeconds(30), "every waiting release reached Redis");
        var again = await node.ConnectAsync("f1");
        (await node.ClusterCountAsync("f1")).Should().Be(1);
        await again.CloseQuietlyAsync();
        await Conditions.WaitAsync(node.NoLeasesInRedisAsync, Clients.Deadline, "the last release reached Redis");
    }

    [Fact]
    public async Task Heartbeat_RedisWorkPerPeriod_SameForTenAndTwoThousandUsers()
    {
        var few = await CommandsPerPeriodAsync(users: 10);
        var many = await CommandsPerPeriodAsync(users: 2000);

        // One heartbeat script per period whatever the user count (per-lease renewal sent one script per user).
        few.Should().BeInRange(1, 2);
        many.Should().Be(few, "renewal work does not grow with the users a node holds");
    }

    /// <summary>
    /// Holds one connection per user on a node of its own Redis, then counts the scripts Redis ran over three heartbeat
    /// periods (with the test's own probe commands not being scripts) and returns the count per period.
    /// </summary>
    private static async Task<double> CommandsPerPeriodAsync(int users)
    {
        await using var server = await RedisServer.StartNewAsync();
        var prefix = NewPrefix();
        await using var node = await PoolNode.StartAsync(server.Configuration, prefix, o => o.MaxConnectionsPerUser = 1);
        var connects = Enumerable.Range(0, users).Select(i => node.ConnectAsync($"c{i}")).ToList();
        var sockets = await Task.WhenAll(connects);
        await using var probe = await ConnectionMultiplexer.ConnectAsync(server.Configuration);
        var redisServer = probe.GetServer(probe.GetEndPoints()[0]);
        var heartbeat = "{" + prefix + "}:hb:" + node.Factory.NodeId;
        var db = probe.GetDatabase();

        // Count from one heartbeat to the fourth: three periods.
        await WaitForBeatAsync(db, heartbeat);
        await redisServer.ExecuteAsync("CONFIG", "RESETSTAT");
        for (var i = 0; i < 3; i++)
        {
            await WaitForBeatAsync(db, heartbeat);
        }

        var stats = (string)(await redisServer.ExecuteAsync("INFO", "commandstats"))!;
        var scripts = ScriptCalls(stats);
        foreach (var socket in sockets)
        {
            await socket.CloseQuietlyAsync();
        }

        return scripts / 3.0;
    }

    /// <summary>Waits until the heartbeat key's remaining time rises: the node has just beaten.</summary>
    private static async Task WaitForBeatAsync(IDatabase db, RedisKey heartbeat)
    {
        var last = double.MaxValue;
        await Conditions.WaitAsync(async () =>
        {
            var ttl = (await db.KeyTimeToLiveAsync(heartbeat))?.TotalMilliseconds ?? 0;
            var rose = ttl > last;
            last = ttl;
            return rose;
        }, TimeSpan.FromSeconds(10), "the node beats");
    }

    private static long ScriptCalls(string commandStats)
    {
        long calls = 0;
        foreach (var line in commandStats.Split('\n'))
        {
            if (line.StartsWith("cmdstat_evalsha:", StringComparison.Ordinal) || line.StartsWith("cmdstat_eval:", StringComparison.Ordinal))
            {
                var start = line.IndexOf("calls=", StringComparison.Ordinal) + "calls=".Length;
                var end = line.IndexOf(',', start);
                calls += long.Parse(line[start..end], System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return calls;
    }

    private static void Signal(int processId, string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", [$"-{signal}", processId.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false })!;
        kill.WaitForExit(10_000).Should().BeTrue();
        kill.ExitCode.Should().Be(0, $"kill -{signal} {processId} succeeds");
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics.Metrics;
using System.Net.WebSockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Xunit.Abstractions;
using WebSocketPool.Redis.Tests.Infrastructure;

namespace WebSocketPool.Redis.Tests;

/// <summary>Redis shut down (<c>redis-cli shutdown nosave</c>) and started again empty, under traffic.</summary>
[Collection(UsesRedis.Name)]
public sealed class RedisOutageTests(RedisServerFixture redis, ITestOutputHelper output)
{
    private static readonly TimeSpan s_reconnect = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task RedisRestart_FailOpen_AdmitsOnLocalLimitsThenReRegistersAndConverges()
    {
        var prefix = "t" + Guid.NewGuid().ToString("N")[..12];
        await using var a = await PoolNode.StartAsync(redis.Server.Configuration, prefix, o => o.MaxConnectionsPerUser = 3);
        await using var b = await PoolNode.StartAsync(redis.Server.Configuration, prefix, o => o.MaxConnectionsPerUser = 3);
        using var failOpen = new MetricCollector<long>(a.App.Services.GetRequiredService<IMeterFactory>(), "WebSocketPool", "websocketpool.redis.fail_open_admissions");
        var sockets = new List<ClientWebSocket>();
        var talker = await a.ConnectAsync("olga");
        var listener = await b.ConnectAsync("pete");
        using var traffic = new CancellationTokenSource();
        var sent = 0;
        var sender = Task.Run(async () =>
        {
            // Bounded traffic across the outage: at most 2,000 DMs, one every 10 ms, until told to stop.
            for (var i = 0; i < 2000 && !traffic.IsCancellationRequested; i++)
            {
                await talker.SendTextAsync("dm:pete:tick");
                sent++;
                await Task.Delay(10);
            }
        });
        var received = 0;
        var receiver = Task.Run(async () =>
        {
            for (var i = 0; i < 2000 && !traffic.IsCancellationRequested; i++)
            {
                try
                {
                    await listener.ReceiveTextAsync(TimeSpan.FromSeconds(60));
                    received++;
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        });
        await Conditions.PollAsync(() => received > 5, Clients.Deadline, "DMs flow from A to B");

        try
        {
            // Act 1: Redis goes away.
            await redis.Server.ShutdownAsync();
            await Conditions.WaitAsync(async () => await a.RedisHealthAsync() == HealthStatus.Degraded, s_reconnect, "A notices and reports Degraded");

            // Fail-open: admitted on node-local limits, so quinn gets 2 + 2 > 3 across the cluster.
            for (var i = 0; i < 2; i++)
            {
                sockets.Add(await a.ConnectAsync("quinn"));
                sockets.Add(await b.ConnectAsync("quinn"));
            }

            failOpen.GetMeasurementSnapshot().Sum(m => m.Value).Should().Be(2, "A admitted two connections on local limits, counted");
            a.Presence.IsClusterWide.Should().BeFalse();
            (await a.Presence.GetConnectionCountAsync("quinn")).Should().Be(2, "presence falls back to this node's own count");
            await sockets[0].SendTextAsync("local echo still works");
            (await sockets[0].ReceiveTextAsync()).Should().Be("local echo still works");
            await sockets[0].CloseQuietlyAsync(); // released while Redis is down: the release waits
            sockets.RemoveAt(0);
            await Conditions.PollAsync(() => a.Factory.GetConnectionCount("quinn") == 1, Clients.Deadline, "the local slot is free at once");

            // Act 2: Redis comes back, empty.
            await redis.Server.StartAsync();
            var restarted = System.Diagnostics.Stopwatch.StartNew();
            await Conditions.WaitAsync(async () => await a.RedisHealthAsync() == HealthStatus.Healthy && await b.RedisHealthAsync() == HealthStatus.Healthy,
                s_reconnect, "both nodes reconnect");
            output.WriteLine($"Both nodes healthy {restarted.ElapsedMilliseconds} ms after Redis restarted; reported, not asserted.");

            // Assert: the live leases are re-registered and the counts converge on the truth.
            await Conditions.WaitAsync(async () => await a.ClusterCountAsync("quinn") == 3
                    && await a.ClusterCountAsync("olga") == 1
                    && await a.ClusterCountAsync("pete") == 1,
                s_reconnect, "re-registration restores every live lease, and only those");
            output.WriteLine($"Counts converged {restarted.ElapsedMilliseconds} ms after Redis restarted; reported, not asserted.");

            // quinn is at the limit after the fail-open period: keeps all three, gets no fourth.
            (await a.TryConnectStatusAsync("quinn")).Should().Be(429);
            (await b.TryConnectStatusAsync("quinn")).Should().Be(429);
            await sockets[0].CloseQuietlyAsync();
            sockets.RemoveAt(0);
            await Conditions.WaitAsync(async () => await b.ClusterCountAsync("quinn") == 2, Clients.Deadline, "the release reached Redis");
            sockets.Add(await b.ConnectAsync("quinn"));

            // Cross-node traffic flows again.
            var before = received;
            await Conditions.PollAsync(() => received > before + 5, s_reconnect, "DMs from A reach B again after the restart");
        }
        finally
        {
            traffic.Cancel();
            if (!await PingableAsync())
            {
                await redis.Server.StartAsync();
            }
        }

        await sender;
        await talker.CloseQuietlyAsync();
        listener.Abort();
        await receiver;
        listener.Dispose();
        foreach (var socket in sockets)
        {
            await socket.CloseQuietlyAsync();
        }

        // No lease leaks: once every socket is gone, Redis and both nodes hold nothing.
        await Conditions.WaitAsync(async () => await a.NoLeasesInRedisAsync(), Clients.Deadline, "every lease was released");
        a.Gate.LeaseCount.Should().Be(0);
        b.Gate.LeaseCount.Should().Be(0);
        a.Gate.PendingReleaseCount.Should().Be(0);
        sent.Should().BeGreaterThan(0);
    }

    [Fact]
    public async Task RedisDown_FailClosed_RefusesWith503AndAdmitsAgainAfterRestart()
    {
        var prefix = "t" + Guid.NewGuid().ToString("N")[..12];
        await using var a = await PoolNode.StartAsync(redis.Server.Configuration, prefix, o => o.MaxConnectionsPerUser = 2,
            r => r.FailurePolicy = RedisFailurePolicy.FailClosed);
        var open = await a.ConnectAsync("rita");
        try
        {
            await redis.Server.ShutdownAsync();
            await Conditions.WaitAsync(async () => await a.RedisHealthAsync() == HealthStatus.Unhealthy, s_reconnect, "A reports Unhealthy");

            (await a.TryConnectStatusAsync("rita")).Should().Be(503);
            (await a.TryConnectStatusAsync("sam")).Should().Be(503);
            a.Factory.GetSnapshot().Rejected[RejectionReasons.ClusterUnavailable].Should().BeGreaterThanOrEqualTo(2);
            a.Factory.ActiveConnections.Should().Be(1, "refused attempts gave their reservations back");
            await open.SendTextAsync("still open");
            (await open.ReceiveTextAsync()).Should().Be("still open", "open connections keep working");

            await redis.Server.StartAsync();
            await Conditions.WaitAsync(async () => await a.TryConnectStatusAsync("sam") == 101, s_reconnect, "admission works again");
            await Conditions.WaitAsync(async () => await a.ClusterCountAsync("rita") == 1, s_reconnect, "rita's lease was re-registered");
            (await a.ClusterCountAsync("sam")).Should().Be(0, "sam's probe connections were released, the refused ones never counted");
        }
        finally
        {
            if (!await PingableAsync())
            {
                await redis.Server.StartAsync();
            }
        }

        await open.CloseQuietlyAsync();
        await Conditions.WaitAsync(async () => await a.NoLeasesInRedisAsync(), Clients.Deadline, "no lease is left behind");
    }

    [Fact]
    public async Task RedisDown_FailClosedUnderEvictOldest_RefusedNewcomerEvictsNoOne()
    {
        // Arrange: the user is at the limit on this node, and the node would evict the oldest for a newcomer.
        var prefix = "t" + Guid.NewGuid().ToString("N")[..12];
        await using var a = await PoolNode.StartAsync(redis.Server.Configuration, prefix, o =>
        {
            o.MaxConnectionsPerUser = 1;
            o.OverflowPolicy = OverflowPolicy.EvictOldest;
        }, r => r.FailurePolicy = RedisFailurePolicy.FailClosed);
        var open = await a.ConnectAsync("uma");
        try
        {
            await redis.Server.ShutdownAsync();
            await Conditions.WaitAsync(async () => await a.RedisHealthAsync() == HealthStatus.Unhealthy, s_reconnect, "A reports Unhealthy");

            // Act: the node admits the newcomer in place of the open connection, then the cluster gate refuses it.
            var status = await a.TryConnectStatusAsync("uma");

            // Assert: 503 cluster_unavailable, and the connection it would have replaced was never touched.
            status.Should().Be(503);
            await open.SendTextAsync("still here");
            (await open.ReceiveTextAsync()).Should().Be("still here", "an eviction happens only once the newcomer is accepted");
            a.Factory.GetConnectionCount("uma").Should().Be(1);
            a.Factory.ActiveConnections.Should().Be(1);
            a.Factory.GetSnapshot().Evicted.Should().Be(0);
        }
        finally
        {
            if (!await PingableAsync())
            {
                await redis.Server.StartAsync();
            }
        }

        await open.CloseQuietlyAsync();
        await Conditions.WaitAsync(async () => await a.NoLeasesInRedisAsync(), s_reconnect, "no lease is left behind");
    }

    [Theory]
    [InlineData(RedisFailurePolicy.FailOpen, 101)]
    [InlineData(RedisFailurePolicy.FailClosed, 503)]
    public async Task RedisSlow_AdmissionTimesOut_PolicyAppliesAndNoLeaseIsLeft(RedisFailurePolicy policy, int expected)
    {
        var prefix = "t" + Guid.NewGuid().ToString("N")[..12];
        await using var a = await PoolNode.StartAsync(redis.Server.Configuration, prefix, o => o.MaxConnectionsPerUser = 2, r =>
        {
            r.FailurePolicy = policy;
            r.LeaseTtl = TimeSpan.FromSeconds(2);
            r.OperationTimeout = TimeSpan.FromMilliseconds(500);
        });

        // Redis stops answering for longer than OperationTimeout (500 ms) but less than the client's own timeouts (5 s).
        await redis.Server.PauseAsync(TimeSpan.FromMilliseconds(1500));
        var status = await a.TryConnectStatusAsync("zoe");

        status.Should().Be(expected);

        // Whether the late admission script ran before or after the release, the release came after it: nothing stays.
        await Conditions.WaitAsync(async () => await a.RedisHealthAsync() == HealthStatus.Healthy, s_reconnect, "Redis answers again");
        await Conditions.WaitAsync(async () => await a.ClusterCountAsync("zoe") == 0, Clients.Deadline, "no lease is left behind");
        a.Gate.LeaseCount.Should().Be(0);
    }

    [Fact]
    public async Task NodeStartsBeforeRedis_FailOpen_ServesThenRegistersWhenRedisArrives()
    {
        await using var late = RedisServer.CreateStopped();
        var prefix = "t" + Guid.NewGuid().ToString("N")[..12];
        await using var a = await PoolNode.StartAsync(late.Configuration, prefix, o => o.MaxConnectionsPerUser = 2, waitForRedis: false);
        (await a.RedisHealthAsync()).Should().Be(HealthStatus.Degraded);
        var early = await a.ConnectAsync("abe");
        await early.SendTextAsync("hi");
        (await early.ReceiveTextAsync()).Should().Be("hi");

        await late.StartAsync();

        await Conditions.WaitAsync(async () => await a.RedisHealthAsync() == HealthStatus.Healthy, s_reconnect, "the node connects and subscribes");
        await Conditions.WaitAsync(async () => await a.ClusterCountAsync("abe") == 1, s_reconnect,
            "the connection admitted while Redis was missing is registered");
        await early.CloseQuietlyAsync();
        await Conditions.WaitAsync(async () => await a.ClusterCountAsync("abe") == 0, Clients.Deadline, "and released");
    }

    private async Task<bool> PingableAsync()
    {
        try
        {
            using var client = new System.Net.Sockets.TcpClient();
            await client.ConnectAsync("127.0.0.1", redis.Server.Port);
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }
}

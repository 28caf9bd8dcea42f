// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using WebSocketPool.Redis.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WebSocketPool.Redis.Tests;

[Collection(UsesRedis.Name)]
public sealed class NodeCrashTests(RedisServerFixture redis, ITestOutputHelper output)
{
    [Fact]
    public async Task KillNode_HoldingUsersLeases_LeasesExpireAndUserConnectsAgainElsewhere()
    {
        // Arrange: node A is the EchoServer sample in its own process; node B runs in the test process.
        var prefix = "t" + Guid.NewGuid().ToString("N")[..12];
        await using var a = await NodeHealth.StartHealthyAsync(SampleServers.EchoServer(
            $"--Redis:Configuration={redis.Server.Configuration}",
            $"--Redis:Prefix={prefix}",
            "--Redis:LeaseTtl=00:00:02",
            "--Redis:OperationTimeout=00:00:01",
            "--WebSocketPool:MaxConnectionsPerUser=2"));
        await using var b = await PoolNode.StartAsync(redis.Server.Configuration, prefix, o => o.MaxConnectionsPerUser = 2);
        var first = await Clients.ConnectAsync(a.BaseUri.WebSocketUri("nora"));
        var second = await Clients.ConnectAsync(a.BaseUri.WebSocketUri("nora"));
        await first.SendTextAsync("echo");
        (await first.ReceiveTextAsync()).Should().Be("echo");
        (await b.TryConnectStatusAsync("nora")).Should().Be(429, "node A holds both of nora's slots");
        await Conditions.WaitAsync(async () => await b.ClusterCountAsync("nora") == 2, Clients.Deadline, "both leases are in Redis");

        // Act: kill -9. Nothing is released; A just stops renewing.
        await a.KillAsync();
        var killed = Stopwatch.StartNew();
        first.Abort();
        second.Abort();

        // Assert: within the lease TTL the slots come back by themselves, and nora connects on B.
        await Conditions.WaitAsync(async () => await b.ClusterCountAsync("nora") == 0, TimeSpan.FromSeconds(15),
            "the dead node's leases expire within their TTL");
        output.WriteLine($"Leases of the killed node expired {killed.ElapsedMilliseconds} ms after SIGKILL (LeaseTtl 2 s); reported, not asserted.");
        var again = await b.ConnectAsync("nora");
        var another = await b.ConnectAsync("nora");
        (await b.TryConnectStatusAsync("nora")).Should().Be(429, "the limit holds again with nora's new connections");
        (await b.Presence.GetOnlineUsersAsync()).Should().ContainSingle(u => u.User == "nora" && u.Connections == 2);
        await again.CloseQuietlyAsync();
        await another.CloseQuietlyAsync();
        first.Dispose();
        second.Dispose();
    }
}

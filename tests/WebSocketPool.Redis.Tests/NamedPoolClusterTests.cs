// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using WebSocketPool.Redis.Tests.Infrastructure;

namespace WebSocketPool.Redis.Tests;

/// <summary>
/// A named pool scales out like the default one, on keys and channels of its own: its limits are cluster-wide and
/// apart from the default pool's, its sends reach its connections on every node and no one else's, and the default
/// pool keeps the keys it always had.
/// </summary>
[Collection(UsesRedis.Name)]
public sealed class NamedPoolClusterTests(RedisServerFixture redis)
{
    [Fact]
    public async Task NamedPool_TwoNodes_LimitClusterWideOnItsOwnKeysApartFromTheDefaultPool()
    {
        // Arrange: the default pool allows 3 per user, "notify" 2; both nodes serve both.
        var prefix = "np" + Guid.NewGuid().ToString("N")[..12];
        await using var a = await StartNodeAsync(prefix);
        await using var b = await StartNodeAsync(prefix);
        var held = new List<ClientWebSocket>();
        try
        {
            // Act
            held.Add(await Clients.ConnectAsync(Notify(a, "ivy")));
            held.Add(await Clients.ConnectAsync(Notify(b, "ivy")));
            var thirdNotifyOnA = await Clients.TryConnectStatusAsync(Notify(a, "ivy"));
            var thirdNotifyOnB = await Clients.TryConnectStatusAsync(Notify(b, "ivy"));
            held.Add(await a.ConnectAsync("ivy"));
            held.Add(await a.ConnectAsync("ivy"));
            held.Add(await b.ConnectAsync("ivy"));
            var fourthDefault = await b.TryConnectStatusAsync("ivy");

            // Assert: each pool's limit holds across the nodes, and neither pool's connections count in the other.
            thirdNotifyOnA.Should().Be(429);
            thirdNotifyOnB.Should().Be(429);
            fourthDefault.Should().Be(429);
            (await redis.Server.CommandAsync("ZCARD", "{" + prefix + ":notify}:leases:ivy")).Should().Be("2");
            (await redis.Server.CommandAsync("ZCARD", "{" + prefix + "}:leases:ivy")).Should().Be("3", "the default pool keeps today's keys");
            (await a.ClusterCountAsync("ivy")).Should().Be(3);
        }
        finally
        {
            foreach (var socket in held)
            {
                await socket.CloseQuietlyAsync();
                socket.Dispose();
            }
        }

        await Conditions.WaitAsync(
            async () => await redis.Server.CommandAsync("EXISTS", "{" + prefix + ":notify}:leases:ivy", "{" + prefix + "}:leases:ivy") == "0",
            TimeSpan.FromSeconds(20), "every lease of both pools is released in Redis");
    }

    [Fact]
    public async Task NamedPool_SendToUser_ReachesThatPoolsConnectionsOnEveryNodeOnly()
    {
        // Arrange: ivy has a default-pool connection on a and a notify connection on b.
        var prefix = "np" + Guid.NewGuid().ToString("N")[..12];
        await using var a = await StartNodeAsync(prefix);
        await using var b = await StartNodeAsync(prefix);
        using var inDefault = await a.ConnectAsync("ivy");
        using var inNotify = await Clients.ConnectAsync(Notify(b, "ivy"));
        await Conditions.PollAsync(() => b.App.Services.GetRequiredKeyedService<PooledWebSocketManagerFactory>("notify").GetConnections("ivy").Count == 1,
            Clients.Deadline, "b runs ivy's notify connection");
        var notifyOnA = a.App.Services.GetRequiredKeyedService<IWebSocketSender>("notify");

        // Act: from node a, through the notify pool, then through the default pool.
        await notifyOnA.SendToUserAsync("ivy", Encoding.UTF8.GetBytes("notify only"), WebSocketMessageType.Text);
        await a.Sender.SendToUserAsync("ivy", Encoding.UTF8.GetBytes("default only"), WebSocketMessageType.Text);

        // Assert: each connection gets its own pool's message first; the other pool's never came before it.
        (await inNotify.ReceiveTextAsync()).Should().Be("notify only");
        (await inDefault.ReceiveTextAsync()).Should().Be("default only");
        (await redis.Server.CommandAsync("PUBSUB", "CHANNELS", "{" + prefix + ":notify}:user:*")).Should().Be("{" + prefix + ":notify}:user:ivy",
            "the notify pool's messages travel on channels of its own");
    }

    private Task<PoolNode> StartNodeAsync(string prefix) => PoolNode.StartAsync(
        redis.Server.Configuration,
        prefix,
        pool: o => o.MaxConnectionsPerUser = 3,
        pipeline: app =>
        {
            app.UseWebSocketPooling();
            app.MapWebSocketPool<RelayHandler>("/ws/notify", "notify", o => o.MaxConnectionsPerUser = 2);
        });

    private static Uri Notify(PoolNode node, string user) => new UriBuilder(node.BaseUri) { Scheme = "ws", Path = "/ws/notify", Query = "user=" + user }.Uri;
}

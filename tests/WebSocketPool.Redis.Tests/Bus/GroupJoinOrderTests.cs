// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using StackExchange.Redis;
using WebSocketPool.Redis.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WebSocketPool.Redis.Tests.Bus;

/// <summary>A send issued after <c>AddToGroupAsync</c> completed reaches the new member, whichever node joins, sends or holds it.</summary>
[Collection(UsesRedis.Name)]
public sealed class GroupJoinOrderTests(RedisServerFixture redis, ITestOutputHelper output)
{
    private const int Members = 200;

    [Fact]
    public async Task AddToGroup_200RemoteJoinsEachFollowedAtOnceBySend_EveryMemberGetsItsMessage()
    {
        // Arrange: 200 connections on B, each to be put in a group of its own by A.
        var prefix = "t" + Guid.NewGuid().ToString("N")[..12];
        await using var a = await PoolNode.StartAsync(redis.Server.Configuration, prefix);
        await using var b = await PoolNode.StartAsync(redis.Server.Configuration, prefix);
        var (sockets, ids) = await ConnectAsync(b, "remote");
        try
        {
            // Act: each join is followed at once by a send to the group, from the joining node.
            var watch = System.Diagnostics.Stopwatch.StartNew();
            for (var i = 0; i < Members; i++)
            {
                (await a.Sender.AddToGroupAsync(ids[i], "solo-" + i)).Should().BeTrue($"B holds connection {ids[i]}");
                await a.Sender.SendTextToGroupAsync("solo-" + i, "m" + i);
            }

            output.WriteLine($"{Members} remote joins and sends in {watch.ElapsedMilliseconds} ms; reported, not asserted.");

            // Assert: every member got its message, and it was the first thing it got.
            await ExpectEachAsync(sockets, i => "m" + i);
        }
        finally
        {
            await CloseAllAsync(sockets);
        }
    }

    [Fact]
    public async Task AddToGroup_200LocalJoinsEachFollowedAtOnceBySendFromOtherNode_EveryMemberGetsItsMessage()
    {
        // Arrange: 200 connections on A, joined by A; B sends.
        var prefix = "t" + Guid.NewGuid().ToString("N")[..12];
        await using var a = await PoolNode.StartAsync(redis.Server.Configuration, prefix);
        await using var b = await PoolNode.StartAsync(redis.Server.Configuration, prefix);
        var (sockets, ids) = await ConnectAsync(a, "local");
        try
        {
            // Act
            for (var i = 0; i < Members; i++)
            {
                (await a.Sender.AddToGroupAsync(ids[i], "solo-" + i)).Should().BeTrue();
                await b.Sender.SendTextToGroupAsync("solo-" + i, "m" + i);
            }

            // Assert
            await ExpectEachAsync(sockets, i => "m" + i);

            // Leaving is ordered the same way: after RemoveFromGroupAsync completed, a send no longer reaches the connection.
            (await b.Sender.RemoveFromGroupAsync(ids[0], "solo-0")).Should().BeTrue("A confirms the removal");
            await b.Sender.SendTextToGroupAsync("solo-0", "after-leave");
            await b.Sender.SendTextToConnectionAsync(ids[0], "marker");
            (await sockets[0].ReceiveTextAsync()).Should().Be("marker", "the group send after the leave did not reach it");
        }
        finally
        {
            await CloseAllAsync(sockets);
        }
    }

    [Fact]
    public async Task AddToGroup_RemoteNodeReceivesButNeverAnswers_ThrowsTimeoutAfterTheOperationTimeout()
    {
        // Arrange: a listener on a node channel that is no node: it receives the request and never answers.
        var prefix = "t" + Guid.NewGuid().ToString("N")[..12];
        await using var a = await PoolNode.StartAsync(redis.Server.Configuration, prefix, redis: o => o.OperationTimeout = TimeSpan.FromMilliseconds(300));
        var multiplexer = await ConnectionMultiplexer.ConnectAsync(redis.Server.Configuration);
        await using var _ = multiplexer;
        await multiplexer.GetSubscriber().SubscribeAsync(RedisChannel.Literal("{" + prefix + "}:node:mute"), static (_, _) => { });

        // Act
        var join = async () => await a.Sender.AddToGroupAsync("mute-1", "g");
        var nobody = await a.Sender.AddToGroupAsync("gone-1", "g");

        // Assert
        (await join.Should().ThrowAsync<TimeoutException>()).WithMessage("*did not confirm*");
        nobody.Should().BeFalse("no node listens on that node's channel");
        a.Bus.Acks.Pending.Should().Be(0, "a request nobody answered is forgotten");
    }

    private static async Task<(List<ClientWebSocket> Sockets, List<string> Ids)> ConnectAsync(PoolNode node, string prefix)
    {
        var sockets = new List<ClientWebSocket>(Members);
        var ids = new List<string>(Members);
        for (var batch = 0; batch < Members; batch += 50)
        {
            sockets.AddRange(await Task.WhenAll(Enumerable.Range(batch, 50).Select(i => node.ConnectAsync(prefix + i))));
        }

        for (var i = 0; i < Members; i++)
        {
            await node.WaitOpenAsync(prefix + i, 1);
            ids.Add(node.Factory.GetConnections(prefix + i).Single().ConnectionId);
        }

        return (sockets, ids);
    }

    private static async Task ExpectEachAsync(List<ClientWebSocket> sockets, Func<int, string> expected)
    {
        var received = await Task.WhenAll(sockets.Select(s => s.ReceiveTextAsync()));
        for (var i = 0; i < sockets.Count; i++)
        {
            received[i].Should().Be(expected(i), $"member {i} got the send made right after its join");
        }
    }

    private static async Task CloseAllAsync(List<ClientWebSocket> sockets)
    {
        foreach (var socket in sockets)
        {
            await socket.CloseQuietlyAsync();
        }
    }
}

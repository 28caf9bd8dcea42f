// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using WebSocketPool.Redis.Tests.Infrastructure;

namespace WebSocketPool.Redis.Tests;

[Collection(UsesRedis.Name)]
public sealed class RedisWebSocketSenderTests(RedisServerFixture redis)
{
    private static string NewPrefix() => "t" + Guid.NewGuid().ToString("N")[..12];

    [Fact]
    public async Task Dm_FromUserOnNodeA_ReachesUserOnNodeBOnce()
    {
        var prefix = NewPrefix();
        await using var a = await PoolNode.StartAsync(redis.Server.Configuration, prefix);
        await using var b = await PoolNode.StartAsync(redis.Server.Configuration, prefix);
        var alice = await a.ConnectAsync("alice");
        var bob = await b.ConnectAsync("bob");

        await alice.SendTextAsync("dm:bob:hello bob");

        (await bob.ReceiveTextAsync()).Should().Be("dm:alice:hello bob");

        // Once: the next message bob sees is a later one, not a duplicate of the first.
        await alice.SendTextAsync("dm:bob:second");
        (await bob.ReceiveTextAsync()).Should().Be("dm:alice:second");
        await alice.CloseQuietlyAsync();
        await bob.CloseQuietlyAsync();
    }

    [Fact]
    public async Task SendToUser_ConnectionsOnBothNodes_EachReceivesOnceAndLocalCountReturned()
    {
        var prefix = NewPrefix();
        await using var a = await PoolNode.StartAsync(redis.Server.Configuration, prefix);
        await using var b = await PoolNode.StartAsync(redis.Server.Configuration, prefix);
        var onA = await a.ConnectAsync("carol");
        var onB = await b.ConnectAsync("carol");
        await a.WaitOpenAsync("carol", 1);
        await b.WaitOpenAsync("carol", 1);

        var local = await a.Sender.SendTextToUserAsync("carol", "one");
        await a.Sender.SendTextToUserAsync("carol", "two");

        local.Should().Be(1, "the return value counts this node's deliveries");
        (await onA.ReceiveTextAsync()).Should().Be("one");
        (await onA.ReceiveTextAsync()).Should().Be("two");
        (await onB.ReceiveTextAsync()).Should().Be("one");
        (await onB.ReceiveTextAsync()).Should().Be("two");
        await onA.CloseQuietlyAsync();
        await onB.CloseQuietlyAsync();
    }

    [Fact]
    public async Task SendToGroupAndAll_MembersOnBothNodes_EachReceivesOnce()
    {
        var prefix = NewPrefix();
        await using var a = await PoolNode.StartAsync(redis.Server.Configuration, prefix);
        await using var b = await PoolNode.StartAsync(redis.Server.Configuration, prefix);
        var memberA = await a.ConnectAsync("dave");
        var memberB = await b.ConnectAsync("erin");
        var outsider = await b.ConnectAsync("frank");
        await b.WaitOpenAsync("frank", 1);
        await memberA.SendTextAsync("join:room");
        await memberB.SendTextAsync("join:room");
        (await memberA.ReceiveTextAsync()).Should().Be("joined");
        (await memberB.ReceiveTextAsync()).Should().Be("joined");

        await b.Sender.SendTextToGroupAsync("room", "to-room");
        await a.Sender.SendTextToAllAsync("to-all");

        // Two senders on two nodes: each node delivers its own send at once and the other's after Redis, so the
        // order between the two differs per node; each message arrives exactly once.
        string[] both = ["to-room", "to-all"];
        new[] { await memberA.ReceiveTextAsync(), await memberA.ReceiveTextAsync() }.Should().BeEquivalentTo(both);
        new[] { await memberB.ReceiveTextAsync(), await memberB.ReceiveTextAsync() }.Should().BeEquivalentTo(both);
        (await outsider.ReceiveTextAsync()).Should().Be("to-all", "a non-member gets only the broadcast to everyone");

        // Nothing more is on the way: a marker sent now is the next message each one sees.
        await a.Sender.SendTextToAllAsync("marker");
        (await memberA.ReceiveTextAsync()).Should().Be("marker");
        (await memberB.ReceiveTextAsync()).Should().Be("marker");
        (await outsider.ReceiveTextAsync()).Should().Be("marker");
        foreach (var socket in new[] { memberA, memberB, outsider })
        {
            await socket.CloseQuietlyAsync();
        }
    }

    [Fact]
    public async Task SendToConnectionAndGroupJoin_ConnectionOnOtherNode_GoStraightToItsNode()
    {
        var prefix = NewPrefix();
        await using var a = await PoolNode.StartAsync(redis.Server.Configuration, prefix);
        await using var b = await PoolNode.StartAsync(redis.Server.Configuration, prefix);
        var onB = await b.ConnectAsync("gina");
        await onB.SendTextAsync("id");
        var id = (await onB.ReceiveTextAsync())["id:".Length..];
        id.Should().StartWith(b.Factory.NodeId + "-");

        var sent = await a.Sender.SendTextToConnectionAsync(id, "direct");
        var joined = await a.Sender.AddToGroupAsync(id, "remote-room");
        var unknown = await a.Sender.SendTextToConnectionAsync("0000000000-1", "nobody");

        sent.Should().Be(SendResult.Queued);
        joined.Should().BeTrue();
        unknown.Should().Be(SendResult.NotFound, "no node with that id listens");
        (await onB.ReceiveTextAsync()).Should().Be("direct");
        await Conditions.WaitAsync(async () =>
        {
            await a.Sender.SendTextToGroupAsync("remote-room", "probe");
            return true;
        }, Clients.Deadline, "group send");
        (await onB.ReceiveTextAsync()).Should().Be("probe", "A's join request made the connection on B a member");
        await onB.CloseQuietlyAsync();
    }

    [Fact]
    public async Task DisconnectUser_ConnectionsOnBothNodes_AllClosedWith4003AndSlotsFreed()
    {
        var prefix = NewPrefix();
        await using var a = await PoolNode.StartAsync(redis.Server.Configuration, prefix);
        await using var b = await PoolNode.StartAsync(redis.Server.Configuration, prefix);
        var onA = await a.ConnectAsync("hank");
        var onB = await b.ConnectAsync("hank");
        await a.WaitOpenAsync("hank", 1);
        await b.WaitOpenAsync("hank", 1);

        var closedHere = await a.Sender.DisconnectUserAsync("hank");

        closedHere.Should().Be(1);
        (await onA.ReceiveCloseAsync()).Should().Be(WebSocketCloseCodes.Kicked);
        (await onB.ReceiveCloseAsync()).Should().Be(WebSocketCloseCodes.Kicked);
        await Conditions.WaitAsync(async () => await a.ClusterCountAsync("hank") == 0, Clients.Deadline,
            "both leases are released in Redis");
        onA.Dispose();
        onB.Dispose();
    }

    [Fact]
    public async Task SendToConnection_CloseMessageType_Throws()
    {
        var prefix = NewPrefix();
        await using var a = await PoolNode.StartAsync(redis.Server.Configuration, prefix);

        var send = async () => await a.Sender.SendToConnectionAsync("0000000000-1", new byte[1], WebSocketMessageType.Close);

        await send.Should().ThrowAsync<ArgumentException>();
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using WebSocketPool.Redis.Internal;
using WebSocketPool.Redis.Tests.Infrastructure;

namespace WebSocketPool.Redis.Tests.Bus;

/// <summary>Requests for one connection travel on its node's channel: kicks, and the lease gate's cluster evictions.</summary>
[Collection(UsesRedis.Name)]
public sealed class NodeChannelTests(RedisServerFixture redis)
{
    [Fact]
    public async Task PublishToNode_EvictionAsTheLeaseGateSendsIt_ClosesTheConnectionThereWith4001AndFreesItsSlot()
    {
        // Arrange
        var prefix = "t" + Guid.NewGuid().ToString("N")[..12];
        await using var a = await PoolNode.StartAsync(redis.Server.Configuration, prefix);
        await using var b = await PoolNode.StartAsync(redis.Server.Configuration, prefix);
        var victim = await b.ConnectAsync("lena");
        await b.WaitOpenAsync("lena", 1);
        var victimId = b.Factory.GetConnections("lena").Single().ConnectionId;

        // Act: the message RedisLeaseGate.EvictAsync publishes for a victim on another node, through the same call.
        var eviction = new BusMessage(BusMessageKind.KickConnection, a.Factory.NodeId, victimId, WebSocketCloseCodes.Evicted,
            "Replaced by a newer connection.", ReadOnlyMemory<byte>.Empty);
        var receivers = await a.Bus.PublishToNodeAsync(b.Factory.NodeId, eviction, CancellationToken.None);

        // Assert
        receivers.Should().Be(1, "B alone hears its node channel");
        (await victim.ReceiveCloseAsync()).Should().Be(WebSocketCloseCodes.Evicted);
        await victim.CloseQuietlyAsync();
        await Conditions.WaitAsync(async () => await a.ClusterCountAsync("lena") == 0, Clients.Deadline, "the evicted lease is released in Redis");
    }

    [Fact]
    public async Task DisconnectConnection_ConnectionOnOtherNode_ClosedThereWith4003()
    {
        // Arrange
        var prefix = "t" + Guid.NewGuid().ToString("N")[..12];
        await using var a = await PoolNode.StartAsync(redis.Server.Configuration, prefix);
        await using var b = await PoolNode.StartAsync(redis.Server.Configuration, prefix);
        var target = await b.ConnectAsync("mona");
        await b.WaitOpenAsync("mona", 1);
        var id = b.Factory.GetConnections("mona").Single().ConnectionId;

        // Act
        var sent = await a.Sender.DisconnectConnectionAsync(id, reason: "bye");

        // Assert
        sent.Should().BeTrue("B received the request");
        (await target.ReceiveCloseAsync()).Should().Be(WebSocketCloseCodes.Kicked);
        await target.CloseQuietlyAsync();
    }
}

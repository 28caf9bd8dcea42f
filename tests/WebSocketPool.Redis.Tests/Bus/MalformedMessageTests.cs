// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using StackExchange.Redis;
using WebSocketPool.Redis.Internal;
using WebSocketPool.Redis.Tests.Infrastructure;

namespace WebSocketPool.Redis.Tests.Bus;

/// <summary>Raw bytes published straight to a node's channels, as a broken or foreign publisher would.</summary>
[Collection(UsesRedis.Name)]
public sealed class MalformedMessageTests(RedisServerFixture redis)
{
    [Fact]
    public async Task Publish_MalformedBytesOnEveryChannelOfANode_CountedAndTheNodeKeepsDelivering()
    {
        // Arrange: B holds ursula, a member of group g, and watches presence, so it hears every kind of channel.
        var prefix = "t" + Guid.NewGuid().ToString("N")[..12];
        await using var a = await PoolNode.StartAsync(redis.Server.Configuration, prefix);
        await using var b = await PoolNode.StartAsync(redis.Server.Configuration, prefix);
        using var malformed = new MetricCollector<long>(b.Meters, "WebSocketPool", "websocketpool.redis.messages.malformed");
        var ursula = await b.ConnectAsync("ursula");
        await ursula.SendTextAsync("join:g");
        (await ursula.ReceiveTextAsync()).Should().Be("joined");
        await using var watch = await b.Presence.WatchAsync(static _ => ValueTask.CompletedTask);
        var channels = b.Bus.Channels;
        var ursulaId = b.Factory.GetConnections("ursula").Single().ConnectionId;
        byte[] Envelope(BusMessageKind kind, string target, int code, string? text, byte[]? payload = null) =>
            new BusMessage(kind, a.Factory.NodeId, target, code, text, payload ?? []).Encode();
        var valid = Envelope(BusMessageKind.User, "ursula", 0, null, "x"u8.ToArray());
        (string Channel, byte[] Data)[] bad =
        [
            (channels.All, []),
            (channels.All, "not an envelope at all"u8.ToArray()),
            (channels.All, [1, .. valid[1..]]), // another envelope version
            (channels.User("ursula"), valid[..(valid.Length - 3)]), // cut short inside a string
            (channels.User("ursula"), Envelope(BusMessageKind.KickUser, "ursula", 999, null)), // close code out of range
            (channels.User("ursula"), Envelope(BusMessageKind.KickUser, "ursula", 4003, new string('r', 200))), // reason too long
            (channels.User("ursula"), Envelope(BusMessageKind.User, "someone-else", 0, null, "x"u8.ToArray())), // not this channel's user
            (channels.Group("g"), Envelope(BusMessageKind.Group, "g", 2, null, "x"u8.ToArray())), // message type Close
            (channels.Group("g"), Envelope(BusMessageKind.KickUser, "ursula", 4003, null)), // a kick on a group's channel
            (channels.Own, Envelope(BusMessageKind.AddToGroup, ursulaId, 0, null)), // no group name
            (channels.Node(b.Factory.NodeId), Envelope(BusMessageKind.KickConnection, ursulaId, 5000, null)), // close code out of range
            (channels.Node(b.Factory.NodeId), Envelope(BusMessageKind.GroupAck, ursulaId, 0, null, [1])), // no request id
            (channels.Node(b.Factory.NodeId), Envelope((BusMessageKind)77, ursulaId, 0, null)), // unknown kind
            (channels.Presence, "one ursula"u8.ToArray()), // not a count
            (channels.Presence, [(byte)'1', (byte)' ', 0xFF, 0xFE]), // not UTF-8
        ];

        // Act
        var multiplexer = await ConnectionMultiplexer.ConnectAsync(redis.Server.Configuration);
        await using (multiplexer)
        {
            var database = multiplexer.GetDatabase();
            foreach (var (channel, data) in bad)
            {
                (await database.PublishAsync(RedisChannel.Literal(channel), data)).Should().BeGreaterThan(0, $"node B hears {channel}");
            }
        }

        // Assert: each one counted, none thrown into the client, and B delivers as before.
        await Conditions.PollAsync(() => malformed.GetMeasurementSnapshot().Sum(m => m.Value) >= bad.Length, Clients.Deadline,
            $"B counted {bad.Length} malformed messages");
        malformed.GetMeasurementSnapshot().Sum(m => m.Value).Should().Be(bad.Length);
        await a.Sender.SendTextToUserAsync("ursula", "to-user");
        (await ursula.ReceiveTextAsync()).Should().Be("to-user", "the malformed kick closed nothing, and the user's channel still delivers");
        await a.Sender.SendTextToGroupAsync("g", "to-group");
        (await ursula.ReceiveTextAsync()).Should().Be("to-group");
        await a.Sender.SendTextToAllAsync("to-all");
        (await ursula.ReceiveTextAsync()).Should().Be("to-all");
        (await a.Sender.SendTextToConnectionAsync(ursulaId, "to-connection")).Should().Be(SendResult.Queued);
        (await ursula.ReceiveTextAsync()).Should().Be("to-connection");
        (await b.RedisHealthAsync()).Should().Be(HealthStatus.Healthy);
        await ursula.CloseQuietlyAsync();
    }
}

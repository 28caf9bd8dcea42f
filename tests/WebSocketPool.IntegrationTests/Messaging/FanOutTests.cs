// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using Microsoft.Extensions.DependencyInjection;

namespace WebSocketPool.IntegrationTests.Messaging;

public sealed class FanOutTests
{
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task SendToUser_SeveralConnections_EachGetsEveryMessageOnceInOrder()
    {
        // Arrange
        await using var server = await PoolTestServer.StartAsync(pool: p => p.AddHandler<RecordingHandler>());
        var alice = new List<ClientWebSocket>();
        for (var i = 0; i < 3; i++)
        {
            alice.Add(await server.ConnectAsync("alice"));
        }

        using var bob = await server.ConnectAsync("bob");
        await PoolTestServer.WaitUntilAsync(() => server.Factory.GetConnections("alice").Count == 3 && server.Factory.GetConnections("bob").Count == 1,
            s_deadline, "every connection is open on the server");
        const int Messages = 200;
        var readers = alice.Select(c => ReadAsync(c, Messages + 1)).ToList();

        // Act
        for (var i = 0; i < Messages; i++)
        {
            (await server.Sender.SendTextToUserAsync("alice", "m-" + i)).Should().Be(3);
        }

        (await server.Sender.SendTextToUserAsync("alice", "end")).Should().Be(3);
        (await server.Sender.SendTextToUserAsync("bob", "only-bob")).Should().Be(1);

        // Assert: every connection got every message once, in order, and the end marker right after the last one.
        var expected = Enumerable.Range(0, Messages).Select(i => "m-" + i).Append("end").ToList();
        foreach (var received in await Task.WhenAll(readers))
        {
            received.Should().Equal(expected);
        }

        (await bob.ReceiveTextAsync()).Should().Be("only-bob", "another user's messages never reach bob");
        foreach (var client in alice)
        {
            client.Dispose();
        }
    }

    [Fact]
    public async Task SendToGroup_MembersOnly_AndReleaseLeavesEveryGroupAndEmptyGroupsVanish()
    {
        // Arrange
        await using var server = await PoolTestServer.StartAsync(pool: p => p.AddHandler<RecordingHandler>());
        using var a = await server.ConnectAsync("a");
        using var b = await server.ConnectAsync("b");
        using var c = await server.ConnectAsync("c");
        await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == 3, s_deadline, "three connections are open");
        var idA = server.Factory.GetConnections("a").Single().ConnectionId;
        var idB = server.Factory.GetConnections("b").Single().ConnectionId;
        var idC = server.Factory.GetConnections("c").Single().ConnectionId;
        (await server.Sender.AddToGroupAsync(idA, "room")).Should().BeTrue();
        (await server.Sender.AddToGroupAsync(idB, "room")).Should().BeTrue();
        (await server.Sender.AddToGroupAsync(idA, "solo")).Should().BeTrue();
        (await server.Sender.AddToGroupAsync(idA, "room")).Should().BeTrue("joining twice is harmless");
        server.Factory.Groups.Count.Should().Be(2);
        server.Factory.Groups.MemberCount("room").Should().Be(2);

        // Act / Assert: group sends reach members only.
        (await server.Sender.SendTextToGroupAsync("room", "to-room")).Should().Be(2);
        (await a.ReceiveTextAsync()).Should().Be("to-room");
        (await b.ReceiveTextAsync()).Should().Be("to-room");
        (await server.Sender.SendTextToConnectionAsync(idC, "direct")).Should().Be(SendResult.Queued);
        (await c.ReceiveTextAsync()).Should().Be("direct", "c is in no group and got only its direct message");

        // Leaving explicitly empties "solo", which vanishes.
        (await server.Sender.RemoveFromGroupAsync(idA, "solo")).Should().BeTrue();
        (await server.Sender.RemoveFromGroupAsync(idA, "solo")).Should().BeFalse();
        server.Factory.Groups.Count.Should().Be(1);

        // Releasing a leaves "room" at once; releasing b empties it, and it vanishes.
        await a.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await PoolTestServer.WaitUntilAsync(() => server.Factory.GetConnectionCount("a") == 0 && server.Factory.OpenConnectionCount == 2, s_deadline, "a is released");
        server.Factory.Groups.MemberCount("room").Should().Be(1);
        (await server.Sender.SendTextToGroupAsync("room", "after-a")).Should().Be(1);
        (await b.ReceiveTextAsync()).Should().Be("after-a");

        b.Abort();
        await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == 1, s_deadline, "b is released after an abrupt drop");
        server.Factory.Groups.Count.Should().Be(0, "an empty group vanishes");
        (await server.Sender.SendTextToGroupAsync("room", "nobody")).Should().Be(0);
        (await server.Sender.AddToGroupAsync(idA, "room")).Should().BeFalse("a released connection cannot join");
        server.Factory.Groups.Count.Should().Be(0);
    }

    [Fact]
    public async Task SendToAll_EveryOpenConnection_GetsTheMessage()
    {
        await using var server = await PoolTestServer.StartAsync(pool: p => p.AddHandler<RecordingHandler>());
        var clients = new List<ClientWebSocket>();
        for (var i = 0; i < 5; i++)
        {
            clients.Add(await server.ConnectAsync("user" + (i % 2)));
        }

        await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == 5, s_deadline, "five connections are open");

        (await server.Sender.SendTextToAllAsync("hello-all")).Should().Be(5);

        foreach (var client in clients)
        {
            (await client.ReceiveTextAsync()).Should().Be("hello-all");
            client.Dispose();
        }
    }

    private static async Task<List<string>> ReadAsync(WebSocket socket, int count)
    {
        var list = new List<string>(count);
        for (var i = 0; i < count; i++)
        {
            list.Add(await socket.ReceiveTextAsync());
        }

        return list;
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using Microsoft.Extensions.DependencyInjection;

namespace WebSocketPool.IntegrationTests.Messaging;

public sealed class KickTests
{
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task DisconnectUser_ThreeConnections_SlotsFreeOnReturnAndClientsSee4003()
    {
        // Arrange: the user is at the limit, with every client waiting in a receive.
        await using var server = await PoolTestServer.StartAsync(o => o.MaxConnectionsPerUser = 3, pool: p => p.AddHandler<RecordingHandler>());
        var handler = server.App.Services.GetRequiredService<RecordingHandler>();
        var clients = new List<ClientWebSocket>();
        for (var i = 0; i < 3; i++)
        {
            clients.Add(await server.ConnectAsync("kicked"));
        }

        using var other = await server.ConnectAsync("other");
        await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == 4, s_deadline, "every connection is open");
        var ids = server.Factory.GetConnections("kicked").Select(c => c.ConnectionId).ToList();
        var closes = clients.Select(c => c.ReceiveCloseAsync()).ToList();

        // Act
        var closed = await server.Sender.DisconnectUserAsync("kicked", reason: "Banned.");

        // Assert: the user's slots are free the moment the call returns; the closing sockets still count against the
        // node's cap until they have ended (open + handshaking + closing never exceed MaxConnections).
        var countOnReturn = server.Factory.GetConnectionCount("kicked");
        var activeOnReturn = server.Factory.ActiveConnections;
        closed.Should().Be(3);
        countOnReturn.Should().Be(0);
        activeOnReturn.Should().BeInRange(1, 4, "the other user's connection, plus the kicked sockets that have not finished closing");

        foreach (var close in await Task.WhenAll(closes))
        {
            close.CloseStatus.Should().Be(WebSocketCloseCodes.Kicked);
            close.CloseDescription.Should().Be("Banned.");
        }

        await PoolTestServer.WaitUntilAsync(() => server.Factory.ActiveConnections == 1, s_deadline, "the kicked sockets leave the node's count once closed");

        // A new connection of the same user is admitted at once, up to the full limit again.
        using var again = await server.ConnectAsync("kicked");
        await PoolTestServer.WaitUntilAsync(() => ids.All(handler.Disconnects.ContainsKey), s_deadline, "the kicked sockets finish closing");
        ids.Select(id => handler.Disconnects[id].Reason).Should().AllBeEquivalentTo(DisconnectReason.Kicked);
        server.Factory.GetConnectionCount("kicked").Should().Be(1);
        server.Factory.ActiveConnections.Should().Be(2);
        other.State.Should().Be(WebSocketState.Open);
        (await server.Sender.DisconnectUserAsync("nobody")).Should().Be(0);
        foreach (var client in clients)
        {
            client.Dispose();
        }
    }

    [Fact]
    public async Task DisconnectConnection_OneOfTwo_FreesThatSlotOnlyAndSends4003()
    {
        await using var server = await PoolTestServer.StartAsync(pool: p => p.AddHandler<RecordingHandler>());
        using var first = await server.ConnectAsync("u");
        await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == 1, s_deadline, "the first connection is open");
        var firstId = server.Factory.GetConnections("u").Single().ConnectionId;
        using var second = await server.ConnectAsync("u");
        await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == 2, s_deadline, "the second connection is open");

        var kicked = await server.Sender.DisconnectConnectionAsync(firstId, reason: "Bye.");

        kicked.Should().BeTrue();
        server.Factory.GetConnectionCount("u").Should().Be(1);
        var close = await first.ReceiveCloseAsync();
        close.CloseStatus.Should().Be(WebSocketCloseCodes.Kicked);
        (await server.Sender.DisconnectConnectionAsync(firstId)).Should().BeFalse("kicking twice does nothing");
        (await server.Sender.SendTextToUserAsync("u", "still-here")).Should().Be(1);
        (await second.ReceiveTextAsync()).Should().Be("still-here");
        await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == 1, s_deadline, "the kicked socket is released");
        server.Factory.GetConnectionCount("u").Should().Be(1, "a kicked lease's late release never frees another slot");
    }
}

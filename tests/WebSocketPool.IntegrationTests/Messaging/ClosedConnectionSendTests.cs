// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using Microsoft.Extensions.DependencyInjection;
using System.Text;

namespace WebSocketPool.IntegrationTests.Messaging;

public sealed class ClosedConnectionSendTests
{
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Send_ClosingThenReleasedThenReused_ReturnsClosedStaleHandleNotFoundAndNeverThrows()
    {
        // Arrange: a long reuse window, so the same manager serves the user's next connection.
        await using var server = await PoolTestServer.StartAsync(o => o.ReuseWindow = TimeSpan.FromMinutes(5), pool: p => p.AddHandler<RecordingHandler>());
        using var client = await server.ConnectAsync("u");
        await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == 1, s_deadline, "the connection is open");
        var old = server.Factory.GetConnections("u").Single();
        var oldManager = GetManager(server, old.ConnectionId);
        (await server.Sender.AddToGroupAsync(old.ConnectionId, "g")).Should().BeTrue();

        // Closing: the server started the closing handshake, the lease still exists.
        old.Close(WebSocketCloseCodes.Normal, "done").Should().BeTrue();
        old.SendText("late").Should().Be(SendResult.Closed);
        (await server.Sender.SendTextToConnectionAsync(old.ConnectionId, "late")).Should().BeOneOf(SendResult.Closed, SendResult.NotFound);
        var close = await client.ReceiveCloseAsync();
        close.CloseStatus.Should().Be(WebSocketCloseCodes.Normal);

        // Released: every route fails cleanly.
        await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == 0 && server.Factory.ActiveConnections == 0, s_deadline, "the lease is released");
        old.SendText("after-release").Should().Be(SendResult.StaleHandle);
        old.Send(Encoding.UTF8.GetBytes("x"), WebSocketMessageType.Binary).Should().Be(SendResult.StaleHandle);
        old.Close().Should().BeFalse();
        old.IsActive.Should().BeFalse();
        old.Abort();
        (await server.Sender.SendTextToConnectionAsync(old.ConnectionId, "x")).Should().Be(SendResult.NotFound);
        (await server.Sender.SendTextToConnectionAsync("not-a-connection", "x")).Should().Be(SendResult.NotFound);
        (await server.Sender.SendTextToUserAsync("u", "x")).Should().Be(0);
        (await server.Sender.SendTextToGroupAsync("g", "x")).Should().Be(0);
        (await server.Sender.SendTextToAllAsync("x")).Should().Be(0);
        server.Factory.Groups.Count.Should().Be(0);

        // Reused: the old handle cannot reach the new connection that now runs on the same manager.
        using var next = await server.ConnectAsync("u");
        await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == 1, s_deadline, "the new connection is open");
        var current = server.Factory.GetConnections("u").Single();
        GetManager(server, current.ConnectionId).Should().BeSameAs(oldManager, "the warm manager was reused");
        old.SendText("stale").Should().Be(SendResult.StaleHandle);
        old.Close().Should().BeFalse();
        old.Abort();
        current.SendText("fresh").Should().Be(SendResult.Queued);
        (await next.ReceiveTextAsync()).Should().Be("fresh", "nothing sent through the stale handle arrived");
        next.State.Should().Be(WebSocketState.Open);
    }

    [Fact]
    public async Task Send_CloseMessageType_IsRefusedWithArgumentException()
    {
        await using var server = await PoolTestServer.StartAsync();

        var act = async () => await server.Sender.SendToAllAsync(new byte[1], WebSocketMessageType.Close);

        await act.Should().ThrowAsync<ArgumentException>();
    }

    private static IsolatedWebSocketManager GetManager(PoolTestServer server, string connectionId)
    {
        server.Factory.TryGetManager(connectionId, out var manager, out _).Should().BeTrue();
        return manager;
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using WebSocketPool.IntegrationTests.Infrastructure;

namespace WebSocketPool.IntegrationTests.Connections;

/// <summary>
/// A handle kept by the app after its lease ended can never reach the next user's socket, even when the very same
/// pooled manager now serves that user.
/// </summary>
public sealed class StaleHandleTests
{
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Send_HandleKeptAfterReleaseWhileManagerServesAnotherUser_ReturnsStaleHandleAndReachesNobody()
    {
        // No reuse window and a shared pool of one: the next connection gets exactly the manager alice had.
        await using var server = await PoolTestServer.StartAsync(
            o =>
            {
                o.ReuseWindow = TimeSpan.Zero;
                o.MaxPooledManagers = 1;
            },
            pool: p => p.AddHandler<CoreTestHandler>());
        var handler = server.App.Services.GetRequiredService<CoreTestHandler>();

        IsolatedWebSocketManager aliceManager;
        using (var alice = await server.ConnectAsync("alice"))
        {
            await Conditions.WaitAsync(() => HandleOf(handler, "alice") is not null, s_deadline, "alice's handler saw the connection");
            server.Factory.TryGetManager(HandleOf(handler, "alice")!.Value.ConnectionId, out aliceManager, out _).Should().BeTrue();
            await alice.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        }

        var stale = HandleOf(handler, "alice")!.Value;
        // The slot is free the instant the socket ends; the manager goes back to the pool once the lease has ended
        // (after OnDisconnectedAsync).
        await Conditions.WaitAsync(
            () => server.Factory.ActiveConnections == 0 && server.Factory.OpenConnectionCount == 0 && server.Factory.PooledCount == 1,
            s_deadline,
            "alice's lease is released and her manager pooled");

        using var bob = await server.ConnectAsync("bob");
        await Conditions.WaitAsync(() => HandleOf(handler, "bob") is not null, s_deadline, "bob's handler saw the connection");
        var current = HandleOf(handler, "bob")!.Value;
        server.Factory.TryGetManager(current.ConnectionId, out var bobManager, out _).Should().BeTrue();
        bobManager.Should().BeSameAs(aliceManager, "bob's connection took the one pooled manager, alice's old one");
        bobManager.UserKey.Should().Be("bob");
        current.ConnectionId.Should().NotBe(stale.ConnectionId, "connection ids are never reused");
        current.Should().NotBe(stale);

        // Everything done through the stale handle fails cleanly and touches nothing.
        stale.SendText("for alice's eyes only").Should().Be(SendResult.StaleHandle);
        stale.Send(Encoding.UTF8.GetBytes("binary too"), WebSocketMessageType.Binary).Should().Be(SendResult.StaleHandle);
        stale.IsActive.Should().BeFalse();
        stale.Close(WebSocketCloseCodes.Kicked, "stale").Should().BeFalse();
        stale.Abort();
        var items = () => stale.Items;
        items.Should().Throw<InvalidOperationException>().WithMessage("*stale*");
        (await server.Sender.SendToConnectionAsync(stale.ConnectionId, Encoding.UTF8.GetBytes("by id"), WebSocketMessageType.Text))
            .Should().NotBe(SendResult.Queued);
        (await server.Sender.DisconnectConnectionAsync(stale.ConnectionId)).Should().BeFalse();

        // Bob is untouched: the first thing he receives is what was sent through his own handle.
        current.SendText("marker").Should().Be(SendResult.Queued);
        (await bob.ReceiveTextAsync()).Should().Be("marker");
        await bob.SendTextAsync("still open");
        (await bob.ReceiveTextAsync()).Should().Be("still open");
        current.IsActive.Should().BeTrue();
        server.Factory.GetConnectionCount("bob").Should().Be(1);

        await bob.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await Conditions.WaitAsync(() => server.Factory.ActiveConnections == 0, s_deadline, "bob's lease is released");
        current.SendText("late").Should().Be(SendResult.StaleHandle);
    }

    private static WebSocketConnection? HandleOf(CoreTestHandler handler, string user) =>
        handler.Connected.Where(c => c.UserKey == user).Select(c => (WebSocketConnection?)c).FirstOrDefault();
}

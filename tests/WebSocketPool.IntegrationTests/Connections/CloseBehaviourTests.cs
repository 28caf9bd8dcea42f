// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using Microsoft.Extensions.DependencyInjection;
using WebSocketPool.IntegrationTests.Infrastructure;

namespace WebSocketPool.IntegrationTests.Connections;

/// <summary>
/// What a connection's end may and may not touch: the items bag is still the app's during
/// <see cref="WebSocketHandler.OnDisconnectedAsync"/> and never reachable through a stale handle afterwards; an old
/// connection id never closes a later lease of the same pooled manager; and a handler that throws on disconnect never
/// keeps a slot.
/// </summary>
public sealed class CloseBehaviourTests
{
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(15);

    [Theory]
    [InlineData("client-close")]
    [InlineData("client-abort")]
    [InlineData("server-kick")]
    [InlineData("server-close")]
    public async Task Items_ReadInOnDisconnectedAsync_HoldWhatOnConnectedAsyncSet(string ending)
    {
        // Arrange
        await using var server = await PoolTestServer.StartAsync(pool: p => p.AddHandler<LifecycleProbeHandler>());
        var handler = server.App.Services.GetRequiredService<LifecycleProbeHandler>();
        using var client = await server.ConnectAsync("alice");
        await Conditions.WaitAsync(() => handler.ConnectionOf("alice") is not null, s_deadline, "the handler saw the connection");
        var connection = handler.ConnectionOf("alice")!.Value;

        // Act
        await EndAsync(server, client, connection, ending);
        await Conditions.WaitAsync(() => handler.ItemsAtDisconnect.ContainsKey(connection.ConnectionId), s_deadline, "OnDisconnectedAsync ran");

        // Assert
        handler.ItemsAtDisconnect[connection.ConnectionId].Should().Be(LifecycleProbeHandler.MarkOf(connection.ConnectionId),
            "the items bag belongs to the connection until OnDisconnectedAsync has returned");
        await Conditions.WaitAsync(() => server.Factory.ActiveConnections == 0, s_deadline, "the slot is released");
    }

    [Fact]
    public async Task Items_StaleHandleAfterManagerWasLeasedToAnotherUser_ThrowsAndNeverReturnsTheNewLeasesBag()
    {
        // Arrange: no reuse window and a shared pool of one, so bob's connection gets exactly the manager alice had.
        await using var server = await PoolTestServer.StartAsync(
            o =>
            {
                o.ReuseWindow = TimeSpan.Zero;
                o.MaxPooledManagers = 1;
            },
            pool: p => p.AddHandler<LifecycleProbeHandler>());
        var handler = server.App.Services.GetRequiredService<LifecycleProbeHandler>();
        using (var alice = await server.ConnectAsync("alice"))
        {
            await Conditions.WaitAsync(() => handler.ConnectionOf("alice") is not null, s_deadline, "the handler saw alice");
            await alice.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        }

        var stale = handler.ConnectionOf("alice")!.Value;
        await Conditions.WaitAsync(
            () => handler.ItemsAtDisconnect.ContainsKey(stale.ConnectionId) && server.Factory.ActiveConnections == 0 && server.Factory.GetSnapshot().PooledManagers == 1,
            s_deadline,
            "alice's OnDisconnectedAsync returned and her manager is back in the shared pool");

        // Act
        using var bob = await server.ConnectAsync("bob");
        await Conditions.WaitAsync(() => handler.ConnectionOf("bob") is not null, s_deadline, "the handler saw bob");
        var current = handler.ConnectionOf("bob")!.Value;

        // Assert
        server.Factory.GetSnapshot().PooledManagers.Should().Be(0, "bob's connection took the one pooled manager, alice's old one");
        var staleItems = () => stale.Items;
        staleItems.Should().Throw<InvalidOperationException>("a handle kept past OnDisconnectedAsync is stale");
        current.Items[LifecycleProbeHandler.ItemKey].Should().Be(LifecycleProbeHandler.MarkOf(current.ConnectionId));
        stale.IsActive.Should().BeFalse();
        current.IsActive.Should().BeTrue();
    }

    [Fact]
    public async Task DisconnectConnection_IdOfEarlierLeaseOfTheReusedManager_ReturnsFalseAndTheNewConnectionStaysOpen()
    {
        // Arrange: with the default reuse window the user's freed manager stays warm and serves the next connection.
        await using var server = await PoolTestServer.StartAsync(pool: p => p.AddHandler<LifecycleProbeHandler>());
        var handler = server.App.Services.GetRequiredService<LifecycleProbeHandler>();
        string oldId;
        using (var first = await server.ConnectAsync("u"))
        {
            await Conditions.WaitAsync(() => server.Factory.GetConnections("u").Count == 1, s_deadline, "the first connection is open");
            oldId = server.Factory.GetConnections("u").Single().ConnectionId;
            await first.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        }

        // The slot is free the instant the socket ends; the lease ends (and the manager turns warm) once
        // OnDisconnectedAsync has returned.
        await Conditions.WaitAsync(
            () => server.Factory.ActiveConnections == 0 && server.Factory.GetConnectionCount("u") == 0 && server.Factory.GetSnapshot().WarmManagers == 1,
            s_deadline,
            "the first lease is released and its manager kept warm");
        using var second = await server.ConnectAsync("u");
        await Conditions.WaitAsync(() => server.Factory.GetConnections("u").Count == 1, s_deadline, "the second connection is open");
        var current = server.Factory.GetConnections("u").Single();
        server.Factory.GetSnapshot().WarmManagers.Should().Be(0, "the warm manager was reused for the second connection");
        current.ConnectionId.Should().NotBe(oldId);

        // Act
        var byFactory = server.Factory.DisconnectConnection(oldId);
        var byFactoryWithCode = server.Factory.DisconnectConnection(oldId, WebSocketCloseCodes.Normal, "old");
        var bySender = await server.Sender.DisconnectConnectionAsync(oldId);

        // Assert
        byFactory.Should().BeFalse();
        byFactoryWithCode.Should().BeFalse();
        bySender.Should().BeFalse();
        current.IsActive.Should().BeTrue();
        server.Factory.GetConnectionCount("u").Should().Be(1);
        await second.SendTextAsync("still here");
        (await second.ReceiveTextAsync()).Should().Be("still here");
        second.State.Should().Be(WebSocketState.Open);
    }

    [Fact]
    public async Task DisconnectConnection_OldIdHammeredWhileItsManagerIsReleasedAndLeasedAgain_NeverClosesTheNewLease()
    {
        // Arrange
        const int Rounds = 100;
        await using var server = await PoolTestServer.StartAsync(pool: p => p.AddHandler<LifecycleProbeHandler>());
        var client = await server.ConnectAsync("u");
        try
        {
            for (var round = 0; round < Rounds; round++)
            {
                await Conditions.WaitAsync(() => server.Factory.GetConnections("u").Count == 1, s_deadline, "the connection is open");
                var oldId = server.Factory.GetConnections("u").Single().ConnectionId;
                using var stop = new CancellationTokenSource();
                var hammer = Task.Run(() =>
                {
                    while (!stop.IsCancellationRequested)
                    {
                        server.Factory.DisconnectConnection(oldId, WebSocketCloseCodes.Kicked, "old id");
                    }
                });

                // Act: the old connection ends (it may or may not be kicked first), and the user reconnects at once.
                await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
                client.Dispose();
                await Conditions.WaitAsync(() => server.Factory.GetConnectionCount("u") == 0, s_deadline, "the old lease is released");
                client = await server.ConnectAsync("u");
                await Conditions.WaitAsync(
                    () => server.Factory.GetConnections("u").Count == 1,
                    s_deadline,
                    $"round {round}: the new connection is open (it never is when a DisconnectConnection of the old id reached the new lease)");
                var current = server.Factory.GetConnections("u").Single();
                server.Factory.DisconnectConnection(oldId).Should().BeFalse($"round {round}: the old id names an ended lease");
                await stop.CancelAsync();
                await hammer;

                // Assert: the new lease is untouched and still echoes.
                current.IsActive.Should().BeTrue($"round {round}: a DisconnectConnection of the old id must never close the new lease");
                await client.SendTextAsync("round-" + round);
                (await client.ReceiveTextAsync()).Should().Be("round-" + round);
            }
        }
        finally
        {
            client.Dispose();
        }
    }

    [Fact]
    public async Task OnDisconnectedAsync_HandlerThrowsOnEveryEnd_SlotIsReleasedAndTheUserIsAdmittedAgain()
    {
        // Arrange: three slots, thirty connections; a single leaked slot per end would lock the user out by round four.
        const int Rounds = 30;
        const string User = LifecycleProbeHandler.ThrowOnDisconnectPrefix + "-user";
        string[] endings = ["client-close", "client-abort", "server-kick", "server-close"];
        await using var server = await PoolTestServer.StartAsync(o => o.MaxConnectionsPerUser = 3, pool: p => p.AddHandler<LifecycleProbeHandler>());
        var handler = server.App.Services.GetRequiredService<LifecycleProbeHandler>();

        for (var round = 0; round < Rounds; round++)
        {
            // Act
            using var client = await server.ConnectAsync(User);
            await Conditions.WaitAsync(() => server.Factory.GetConnections(User).Count == 1, s_deadline, $"round {round}: the connection is open");
            var connection = server.Factory.GetConnections(User).Single();
            await EndAsync(server, client, connection, endings[round % endings.Length]);

            // Assert
            await Conditions.WaitAsync(
                () => handler.ItemsAtDisconnect.ContainsKey(connection.ConnectionId) && server.Factory.ActiveConnections == 0 && server.Factory.GetConnectionCount(User) == 0,
                s_deadline,
                $"round {round}: the connection ended, its throwing OnDisconnectedAsync ran, and the slot is free");
        }

        handler.Disconnects.Should().Be(Rounds);
        server.Factory.GetSnapshot().Rejected.Values.Sum().Should().Be(0, "no attempt was ever refused");
    }

    private static async Task EndAsync(PoolTestServer server, ClientWebSocket client, WebSocketConnection connection, string ending)
    {
        switch (ending)
        {
            case "client-close":
                await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
                break;
            case "client-abort":
                client.Abort();
                break;
            case "server-kick":
                server.Factory.DisconnectConnection(connection.ConnectionId).Should().BeTrue();
                (await client.ReceiveCloseStatusAsync(s_deadline)).Should().Be(WebSocketCloseCodes.Kicked);
                break;
            case "server-close":
                connection.Close(WebSocketCloseCodes.Normal, "done").Should().BeTrue();
                (await client.ReceiveCloseStatusAsync(s_deadline)).Should().Be(WebSocketCloseCodes.Normal);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(ending), ending, "Unknown ending.");
        }
    }
}

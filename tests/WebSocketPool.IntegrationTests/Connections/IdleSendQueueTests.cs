// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using Microsoft.Extensions.DependencyInjection;
using WebSocketPool.IntegrationTests.Messaging;

namespace WebSocketPool.IntegrationTests.Connections;

/// <summary>
/// An idle connection holds no send queue and no writer: they are made on the lease's first send (a close frame is sent
/// without them), and the closing handshake, the messages and the release work the same either way.
/// </summary>
public sealed class IdleSendQueueTests
{
    private const int Connections = 300;
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task IdleConnections_HoldNoSendQueue_FirstSendOrKickMakesIt()
    {
        // Arrange: 300 idle connections of 300 users.
        await using var server = await PoolTestServer.StartAsync(
            o =>
            {
                o.KeepAliveInterval = TimeSpan.Zero;
                o.MaxConnections = Connections + 10;
            },
            pool: p => p.AddHandler<RecordingHandler>());
        var clients = new List<ClientWebSocket>(Connections);
        try
        {
            for (var i = 0; i < Connections; i++)
            {
                clients.Add(await server.ConnectAsync("idle-" + i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            }

            await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == Connections, s_deadline, "every connection is open");

            // Act 1: nothing was sent.
            var idleWithQueue = server.Factory.OpenConnections.Values.Count(m => m.HasSendQueue);
            var idleOpenForSend = server.Factory.OpenConnections.Values.Count(m => m.IsOpenForSend);

            // Act 2: one send to the first user makes that connection's queue, and only that one.
            var sent = await server.Sender.SendToUserAsync("idle-0", "hello"u8.ToArray(), WebSocketMessageType.Text);
            var received = await clients[0].ReceiveTextAsync();
            var afterSendWithQueue = server.Factory.OpenConnections.Values.Count(m => m.HasSendQueue);

            // Act 3: a kick of a connection that never sent closes it without a queue.
            var closing = clients[1].ReceiveCloseAsync();
            var kicked = await server.Sender.DisconnectUserAsync("idle-1", reason: "Bye.");
            var close = await closing;

            // Assert
            idleWithQueue.Should().Be(0, "an idle connection holds no send queue");
            idleOpenForSend.Should().Be(Connections, "every idle connection still accepts sends");
            sent.Should().Be(1);
            received.Should().Be("hello");
            afterSendWithQueue.Should().Be(1, "only the connection that was sent to made its queue");
            kicked.Should().Be(1);
            close.Should().Be(WebSocketCloseCodes.Kicked);
            clients[1].CloseStatusDescription.Should().Be("Bye.");
            await PoolTestServer.WaitUntilAsync(
                () => server.Factory.ActiveConnections == Connections - 1 && server.Factory.OpenConnectionCount == Connections - 1,
                s_deadline,
                "the kicked connection is released");

            // Act 4: every other client closes; the server answers each close without making a queue for it.
            await Task.WhenAll(clients.Skip(2).Select(c => c.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None)));
            await PoolTestServer.WaitUntilAsync(() => server.Factory.ActiveConnections == 1, s_deadline, "the closed connections are released");
            clients.Skip(2).Should().OnlyContain(c => c.State == WebSocketState.Closed && c.CloseStatus == WebSocketCloseStatus.NormalClosure);
            server.Factory.SendQueuesMade.Should().Be(1, "only the send made a queue: the kick's close frame and the answers to the clients' closes did not");
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }

        await PoolTestServer.WaitUntilAsync(() => server.Factory.ActiveConnections == 0, s_deadline, "every dropped connection is released");
    }

    [Fact]
    public async Task Broadcast_ThenQuiet_QueuesGivenBackAndTheNextBroadcastMakesThemAgain()
    {
        // Arrange: 1,000 connections of 1,000 users, each sent one broadcast.
        const int Count = 1_000;
        await using var server = await PoolTestServer.StartAsync(
            o =>
            {
                o.KeepAliveInterval = TimeSpan.Zero;
                o.MaxConnections = Count + 10;
            },
            pool: p => p.AddHandler<RecordingHandler>());
        var clients = new List<ClientWebSocket>(Count);
        try
        {
            for (var i = 0; i < Count; i++)
            {
                clients.Add(await server.ConnectAsync("quiet-" + i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            }

            await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == Count, s_deadline, "every connection is open");
            (await server.Sender.SendToAllAsync("one"u8.ToArray(), WebSocketMessageType.Text)).Should().Be(Count);
            (await Task.WhenAll(clients.Select(c => c.ReceiveTextAsync()))).Should().AllBe("one");
            var withQueue = server.Factory.OpenConnections.Values.Count(m => m.HasSendQueue);

            // Act: two looks of the sweep (the first finds every queue used since the last look); then a second broadcast.
            var firstLook = server.Factory.GiveBackIdleSendQueues();
            var secondLook = server.Factory.GiveBackIdleSendQueues();
            var afterGiveBack = server.Factory.OpenConnections.Values.Count(m => m.HasSendQueue);
            (await server.Sender.SendToAllAsync("two"u8.ToArray(), WebSocketMessageType.Text)).Should().Be(Count);
            var second = await Task.WhenAll(clients.Select(c => c.ReceiveTextAsync()));

            // Assert
            withQueue.Should().Be(Count, "a broadcast makes every connection's queue");
            firstLook.Should().Be(0, "every queue was used since the last look");
            secondLook.Should().Be(Count, "an unused, empty queue is given back");
            afterGiveBack.Should().Be(0);
            second.Should().AllBe("two", "the next send makes a new queue and writer, and nothing is lost");
            server.Factory.OpenConnections.Values.Count(m => m.HasSendQueue).Should().Be(Count);
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }

        await PoolTestServer.WaitUntilAsync(() => server.Factory.ActiveConnections == 0, s_deadline, "every dropped connection is released");
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Buffers.Binary;
using System.Diagnostics.Metrics;
using System.Net.WebSockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace WebSocketPool.IntegrationTests.Messaging;

public sealed class SlowConsumerTests
{
    private const int BigMessageBytes = 64 * 1024;
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Send_PeerNeverReadsUnderDisconnect_ClosesWith4002AndReleasesWhileOthersGetEverything()
    {
        // Arrange: a small queue; the stuck close handshake is given up after one send timeout.
        await using var server = await PoolTestServer.StartAsync(
            o =>
            {
                o.SendQueueCapacity = 32;
                o.SlowConsumerPolicy = SlowConsumerPolicy.Disconnect;
                o.SendTimeout = TimeSpan.FromSeconds(1);
            },
            pool: p => p.AddHandler<RecordingHandler>());
        var handler = server.App.Services.GetRequiredService<RecordingHandler>();
        using var slowConsumers = new MetricCollector<long>(server.App.Services.GetRequiredService<IMeterFactory>(), "WebSocketPool", "websocketpool.slow_consumer_disconnects");
        using var slow = await RawWebSocketClient.ConnectWebSocketAsync(server.BaseUri, "slow");
        using var fast = await server.ConnectAsync("fast");
        await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == 2, s_deadline, "both connections are open");
        var slowId = server.Factory.GetConnections("slow").Single().ConnectionId;
        var fastId = server.Factory.GetConnections("fast").Single().ConnectionId;
        var big = new byte[BigMessageBytes];

        // Act: flood the peer that never reads, while the other connection keeps receiving in lock step.
        var outcome = SendResult.Queued;
        var sentToFast = 0;
        for (var i = 0; i < 2_000 && outcome == SendResult.Queued; i++)
        {
            outcome = await server.Sender.SendToConnectionAsync(slowId, big, WebSocketMessageType.Binary);
            (await server.Sender.SendTextToConnectionAsync(fastId, "f-" + sentToFast)).Should().Be(SendResult.Queued);
            (await fast.ReceiveTextAsync()).Should().Be("f-" + sentToFast);
            sentToFast++;
        }

        // Assert
        outcome.Should().Be(SendResult.SlowConsumerDisconnected, "the queue of the peer that never reads overflows");
        (await server.Sender.SendToConnectionAsync(slowId, big, WebSocketMessageType.Binary))
            .Should().BeOneOf([SendResult.Closed, SendResult.NotFound], "the connection is closing and takes no more messages");
        await PoolTestServer.WaitUntilAsync(() => server.Factory.GetConnectionCount("slow") == 0 && server.Factory.OpenConnectionCount == 1,
            s_deadline, "the slow consumer's lease is released");
        await PoolTestServer.WaitUntilAsync(() => handler.Disconnects.ContainsKey(slowId), s_deadline, "the handler hears how the slow consumer ended");
        handler.Disconnects[slowId].Reason.Should().Be(DisconnectReason.SlowConsumer);
        slowConsumers.GetMeasurementSnapshot().Sum(m => m.Value).Should().Be(1);

        // The other connection was never touched and still gets everything.
        server.Factory.GetConnectionCount("fast").Should().Be(1);
        for (var batch = 0; batch < 10; batch++)
        {
            for (var i = 0; i < 16; i++)
            {
                (await server.Sender.SendTextToConnectionAsync(fastId, $"after-{batch}-{i}")).Should().Be(SendResult.Queued);
            }

            for (var i = 0; i < 16; i++)
            {
                (await fast.ReceiveTextAsync()).Should().Be($"after-{batch}-{i}");
            }
        }

        handler.Disconnects.Should().NotContainKey(fastId);
        sentToFast.Should().BeGreaterThan(0);
    }

    [Fact]
    public async Task Send_QueueFullUnderDropOldest_KeepsTheNewestMessagesAndCountsDrops()
    {
        // Arrange: a long send timeout so that the stalled writer is not aborted during the burst.
        const int Capacity = 4;
        const int Messages = 300;
        await using var server = await PoolTestServer.StartAsync(
            o =>
            {
                o.SendQueueCapacity = Capacity;
                o.SlowConsumerPolicy = SlowConsumerPolicy.DropOldest;
                o.SendTimeout = TimeSpan.FromSeconds(60);
            },
            pool: p => p.AddHandler<RecordingHandler>());
        using var dropped = new MetricCollector<long>(server.App.Services.GetRequiredService<IMeterFactory>(), "WebSocketPool", "websocketpool.send_queue.dropped");
        using var client = await RawWebSocketClient.ConnectWebSocketAsync(server.BaseUri, "reader");
        await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == 1, s_deadline, "the connection is open");
        var id = server.Factory.GetConnections("reader").Single().ConnectionId;

        // Act: a burst the client does not read.
        var droppedResults = 0;
        for (var i = 0; i < Messages; i++)
        {
            var payload = new byte[BigMessageBytes];
            BinaryPrimitives.WriteInt32LittleEndian(payload, i);
            var result = await server.Sender.SendToConnectionAsync(id, payload, WebSocketMessageType.Binary);
            result.Should().BeOneOf(SendResult.Queued, SendResult.QueuedDroppedOldest);
            droppedResults += result == SendResult.QueuedDroppedOldest ? 1 : 0;
        }

        // Then it reads everything up to the last message.
        var received = new List<int>();
        for (var i = 0; i < Messages; i++)
        {
            var message = await client.WebSocket.ReceiveMessageAsync(s_deadline);
            message.IsClose.Should().BeFalse();
            message.Payload.Length.Should().Be(BigMessageBytes);
            received.Add(BinaryPrimitives.ReadInt32LittleEndian(message.Payload));
            if (received[^1] == Messages - 1)
            {
                break;
            }
        }

        // Assert: in order, the newest kept, and every missing message counted as dropped.
        received.Should().BeInAscendingOrder().And.OnlyHaveUniqueItems();
        received.TakeLast(Capacity).Should().Equal(Enumerable.Range(Messages - Capacity, Capacity), "the newest messages survive");
        received.Count.Should().BeLessThan(Messages, "the burst overflowed the queue");
        dropped.GetMeasurementSnapshot().Sum(m => m.Value).Should().Be(Messages - received.Count);
        droppedResults.Should().Be(Messages - received.Count, "each send that dropped the oldest message says so");
        server.Factory.GetConnectionCount("reader").Should().Be(1, "DropOldest keeps the connection");
        client.WebSocket.State.Should().Be(WebSocketState.Open);
    }
}

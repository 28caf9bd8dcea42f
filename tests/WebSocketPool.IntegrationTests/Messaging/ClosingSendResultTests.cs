// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net.WebSockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace WebSocketPool.IntegrationTests.Messaging;

/// <summary>
/// A send refused because the connection is closing or gone reports <see cref="SendResult.Closed"/> or
/// <see cref="SendResult.StaleHandle"/>, never <see cref="SendResult.SlowConsumerDisconnected"/>, and is neither counted
/// nor logged as a slow consumer. A sender keeps writing through its handle as fast as it can while the client goes away,
/// round after round, to catch the moment the connection's queue is already completed but its lease not yet ended.
/// </summary>
public sealed class ClosingSendResultTests
{
    private const int Rounds = 50;

    // The queue holds far more than one round ever sends, so a real overflow is impossible here.
    private const int QueueCapacity = 1_000_000;
    private const int MaxSendsPerRound = QueueCapacity / 2;
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(15);

    [Theory]
    [InlineData("client-abort")]
    [InlineData("client-close")]
    public async Task Send_ThroughTheHandleWhileTheClientGoesAway_ReturnsClosedOrStaleHandleAndIsNeverASlowConsumer(string ending)
    {
        // Arrange
        await using var server = await PoolTestServer.StartAsync(
            o => o.SendQueueCapacity = QueueCapacity,
            pool: p => p.AddHandler<RecordingHandler>(),
            services: s => s.AddFakeLogging());
        var logs = server.App.Services.GetFakeLogCollector();
        using var slowConsumers = new MetricCollector<long>(
            server.App.Services.GetRequiredService<IMeterFactory>(), "WebSocketPool", "websocketpool.slow_consumer_disconnects");
        var refusals = new ConcurrentDictionary<SendResult, int>();
        var payload = new byte[] { 42 };

        for (var round = 0; round < Rounds; round++)
        {
            using var client = await server.ConnectAsync("leaving");
            await PoolTestServer.WaitUntilAsync(() => server.Factory.GetConnections("leaving").Count == 1, s_deadline, $"round {round}: the connection is open");
            var connection = server.Factory.GetConnections("leaving").Single();
            var reader = DrainAsync(client);
            var sent = 0;
            var sender = Task.Run(() =>
            {
                while (Volatile.Read(ref sent) < MaxSendsPerRound)
                {
                    var result = connection.Send(payload, WebSocketMessageType.Binary);
                    if (result != SendResult.Queued)
                    {
                        return result;
                    }

                    Interlocked.Increment(ref sent);
                }

                return SendResult.Queued;
            });
            await PoolTestServer.WaitUntilAsync(() => Volatile.Read(ref sent) >= 1_000 || sender.IsCompleted, s_deadline, $"round {round}: the sender is running");

            // Act
            if (ending == "client-abort")
            {
                client.Abort();
            }
            else
            {
                await client.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "leaving", CancellationToken.None);
            }

            var refusal = await sender.WaitAsync(s_deadline);
            await reader.WaitAsync(s_deadline);
            refusals.AddOrUpdate(refusal, 1, static (_, n) => n + 1);
            await PoolTestServer.WaitUntilAsync(() => server.Factory.ActiveConnections == 0, s_deadline, $"round {round}: the lease is released");
        }

        // Assert
        var described = string.Join(", ", refusals.Select(kv => $"{kv.Key} x{kv.Value}"));
        refusals.Keys.Should().NotContain(SendResult.SlowConsumerDisconnected, $"a closing connection is not a slow consumer (refusals: {described})");
        refusals.Keys.Should().BeSubsetOf([SendResult.Closed, SendResult.StaleHandle, SendResult.Queued], described);
        slowConsumers.GetMeasurementSnapshot().Sum(m => m.Value).Should().Be(0, "no slow consumer is counted");
        logs.GetSnapshot().Where(r => r.Id.Name == "SlowConsumer").Should().BeEmpty("no slow consumer is logged");
    }

    /// <summary>Reads and discards until the connection ends, however it ends.</summary>
    private static async Task DrainAsync(ClientWebSocket client)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (client.State is WebSocketState.Open or WebSocketState.CloseSent)
            {
                var result = await client.ReceiveAsync(buffer.AsMemory(), CancellationToken.None);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or ObjectDisposedException or OperationCanceledException)
        {
            // Aborted by the test: that is how this connection ends.
        }
    }
}

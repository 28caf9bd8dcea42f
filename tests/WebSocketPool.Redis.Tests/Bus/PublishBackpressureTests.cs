// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using WebSocketPool.Redis.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WebSocketPool.Redis.Tests.Bus;

/// <summary>A slow Redis (<c>CLIENT PAUSE … WRITE</c>: publications wait, unanswered) under thousands of cross-node sends.</summary>
[Collection(UsesRedis.Name)]
public sealed class PublishBackpressureTests(RedisServerFixture redis, ITestOutputHelper output)
{
    private const int Capacity = 32;
    private const int Sends = 4000;
    private const int PayloadBytes = 16 * 1024;

    [Fact]
    public async Task Sends_RedisPaused_InFlightStaysUnderTheCapOverflowFailsAtOnceMemoryHoldsAndSendsSucceedAfter()
    {
        // Arrange: A may have 32 publications waiting; kim is on B.
        var prefix = "t" + Guid.NewGuid().ToString("N")[..12];
        await using var a = await PoolNode.StartAsync(redis.Server.Configuration, prefix, redis: o => o.MaxInFlightPublishes = Capacity);
        await using var b = await PoolNode.StartAsync(redis.Server.Configuration, prefix);
        using var rejected = new MetricCollector<long>(a.Meters, "WebSocketPool", "websocketpool.redis.publish.rejected");
        var kim = await b.ConnectAsync("kim");
        await b.WaitOpenAsync("kim", 1);
        var kimId = b.Factory.GetConnections("kim").Single().ConnectionId;
        var payload = new byte[PayloadBytes];
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var pending = new List<Task<SendResult>>();
        var immediate = 0;
        var immediateNotFound = 0;

        try
        {
            // Act: Redis stops answering; A sends to kim thousands of times, and to everyone as many times.
            await redis.Server.CommandAsync("client", "pause", "60000", "write"); // PUBLISH waits; CLIENT UNPAUSE still runs
            for (var i = 0; i < Sends; i++)
            {
                var send = a.Sender.SendToConnectionAsync(kimId, payload, WebSocketMessageType.Binary);
                if (send.IsCompleted)
                {
                    immediate++;
                    immediateNotFound += await send == SendResult.NotFound ? 1 : 0; // already complete: no wait
                }
                else
                {
                    pending.Add(send.AsTask());
                }

                await a.Sender.SendToAllAsync(payload, WebSocketMessageType.Binary);
            }

            var during = GC.GetTotalMemory(forceFullCollection: true);
            var inFlight = a.Bus.Publisher.InFlight;
            output.WriteLine($"{immediate} of {Sends} connection sends answered at once; {pending.Count} waited; in flight {inFlight}, "
                + $"at most {a.Bus.Publisher.HighWater}; managed heap grew {(during - before) / 1024} KB for {2L * Sends * PayloadBytes / 1024 / 1024} MB sent.");

            // Assert (while Redis is paused)
            a.Bus.Publisher.HighWater.Should().BeLessThanOrEqualTo(Capacity, "at most the cap waits for Redis");
            pending.Count.Should().BeLessThanOrEqualTo(Capacity, "only what entered the cap waits");
            immediateNotFound.Should().Be(immediate, "an overflowing send fails at once with the documented result");
            immediate.Should().BeGreaterThanOrEqualTo(Sends - Capacity);
            rejected.GetMeasurementSnapshot().Sum(m => m.Value).Should().BeGreaterThanOrEqualTo(2 * Sends - Capacity, "every refusal is counted");
            (during - before).Should().BeLessThan(24L * 1024 * 1024, "memory holds at most the cap's worth of messages, not 125 MB of them");
        }
        finally
        {
            await redis.Server.CommandAsync("client", "unpause");
        }

        // Assert (after): what waited ends (answered, or failed by the client's timeout), and sends succeed again.
        (await Task.WhenAll(pending)).Should().AllSatisfy(r => r.Should().BeOneOf(SendResult.Queued, SendResult.NotFound));
        await Conditions.PollAsync(() => a.Bus.Publisher.InFlight == 0, TimeSpan.FromSeconds(30), "every publication that waited has ended");
        await Conditions.WaitAsync(async () => await a.Sender.SendTextToConnectionAsync(kimId, "after") == SendResult.Queued,
            TimeSpan.FromSeconds(30), "a send to kim succeeds once Redis answers");
        for (var i = 0; i < 2 * Capacity + 2; i++)
        {
            using var timeout = new CancellationTokenSource(Clients.Deadline);
            var buffer = new byte[PayloadBytes + 16];
            var result = await kim.ReceiveAsync(buffer, timeout.Token);
            while (!result.EndOfMessage)
            {
                result = await kim.ReceiveAsync(buffer, timeout.Token);
            }

            if (result.MessageType == WebSocketMessageType.Text && result.Count == 5)
            {
                return; // "after": everything that got through before it arrived first, nothing more
            }
        }

        Assert.Fail("kim never received the send made after Redis answered again.");
    }
}

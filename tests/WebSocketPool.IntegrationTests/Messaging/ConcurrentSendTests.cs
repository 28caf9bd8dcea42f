// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Buffers.Binary;
using System.Net.WebSockets;
using Microsoft.Extensions.DependencyInjection;

namespace WebSocketPool.IntegrationTests.Messaging;

public sealed class ConcurrentSendTests
{
    private const int Threads = 8;
    private const int PerThread = 150;

    [Fact]
    public async Task Send_ManyThreadsToOneConnection_EveryMessageArrivesIntactAndInOrderPerThread()
    {
        // Arrange
        await using var server = await PoolTestServer.StartAsync(o => o.SendQueueCapacity = Threads * PerThread, pool: p => p.AddHandler<RecordingHandler>());
        using var client = await server.ConnectAsync("target");
        await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == 1, TimeSpan.FromSeconds(10), "the connection is open");
        var connection = server.Factory.GetConnections("target").Single();
        using var start = new Barrier(Threads);
        var reader = ReadAllAsync(client, Threads * PerThread);

        // Act: every thread sends messages of varied sizes (up to several frames' worth) through the same handle.
        var senders = Enumerable.Range(0, Threads).Select(thread => Task.Factory.StartNew(
            () =>
            {
                start.SignalAndWait(TimeSpan.FromSeconds(10));
                var results = new List<SendResult>(PerThread);
                for (var seq = 0; seq < PerThread; seq++)
                {
                    results.Add(thread % 2 == 0
                        ? connection.Send(Build(thread, seq), WebSocketMessageType.Binary)
                        : connection.SendText($"{thread}:{seq}:{new string((char)('a' + seq % 26), Length(thread, seq))}"));
                }

                return results;
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default)).ToList();

        // Assert
        (await Task.WhenAll(senders)).SelectMany(r => r).Should().AllBeEquivalentTo(SendResult.Queued);
        var messages = await reader;
        var next = new int[Threads];
        foreach (var message in messages)
        {
            int thread, seq;
            if (message.Type == WebSocketMessageType.Binary)
            {
                thread = BinaryPrimitives.ReadInt32LittleEndian(message.Payload);
                seq = BinaryPrimitives.ReadInt32LittleEndian(message.Payload.AsSpan(4));
                message.Payload.Should().Equal(Build(thread, seq), "a binary message arrives intact");
            }
            else
            {
                var parts = message.Text.Split(':');
                parts.Should().HaveCount(3);
                thread = int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture);
                seq = int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
                parts[2].Should().Be(new string((char)('a' + seq % 26), Length(thread, seq)), "a text message arrives intact");
            }

            seq.Should().Be(next[thread], "one thread's messages keep their order");
            next[thread]++;
        }

        next.Should().AllBeEquivalentTo(PerThread);
        client.State.Should().Be(WebSocketState.Open);
    }

    private static int Length(int thread, int seq) => ((thread * 7919) + (seq * 104_729)) % 40_000;

    private static byte[] Build(int thread, int seq)
    {
        var payload = new byte[8 + Length(thread, seq)];
        BinaryPrimitives.WriteInt32LittleEndian(payload, thread);
        BinaryPrimitives.WriteInt32LittleEndian(payload.AsSpan(4), seq);
        for (var i = 8; i < payload.Length; i++)
        {
            payload[i] = (byte)(thread ^ seq ^ i);
        }

        return payload;
    }

    private static async Task<List<ReceivedMessage>> ReadAllAsync(WebSocket socket, int count)
    {
        var list = new List<ReceivedMessage>(count);
        for (var i = 0; i < count; i++)
        {
            var message = await socket.ReceiveMessageAsync(TimeSpan.FromSeconds(20));
            message.IsClose.Should().BeFalse();
            list.Add(message);
        }

        return list;
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace WebSocketPool.IntegrationTests.Reliability;

/// <summary>
/// More than the server should take: thousands of connections against the global cap, a connect storm across many
/// users, a slow consumer among fast ones, and a handler that throws on every message. The pool refuses or closes
/// exactly what it must, and only that, and the counts stay true.
/// </summary>
public sealed class OverloadTests
{
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Connect_ThousandsBeyondGlobalCap_ExactlyTheExcessGet503()
    {
        const int Cap = 3000;
        const int Excess = 100;
        const int Users = 31;
        var time = new FakeTimeProvider();
        await using var server = await PoolTestServer.StartAsync(
            o =>
            {
                o.MaxConnections = Cap;
                o.MaxConnectionsPerUser = 1000;
            },
            p => p.AddHandler<ReliabilityEchoHandler>(),
            s => s.AddSingleton<TimeProvider>(time));

        await PoolInvariants.AssertNoGrowthAsync(server, async round =>
        {
            var rejectedBefore = server.Factory.GetSnapshot(0).Rejected[RejectionReasons.GlobalLimit];
            var open = new ConcurrentBag<(RawWebSocketClient Client, string User)>();
            var statuses = new ConcurrentDictionary<int, int>();
            await ForEachBoundedAsync(Cap + Excess, 64, async i =>
            {
                var client = await RawWebSocketClient.OpenAsync(server.BaseUri, bufferSize: 1024);
                using var cts = new CancellationTokenSource(s_deadline);
                var user = "crowd" + (i % Users);
                var status = await client.HandshakeAsync(server.BaseUri, user, cts.Token);
                statuses.AddOrUpdate(status, 1, static (_, n) => n + 1);
                if (status == 101)
                {
                    open.Add((client, user));
                }
                else
                {
                    await client.DisposeAsync();
                }
            });

            statuses.Should().BeEquivalentTo(new Dictionary<int, int> { [101] = Cap, [503] = Excess }, "exactly the connections beyond the cap are refused, with 503");
            server.Factory.ActiveConnections.Should().Be(Cap);
            server.Factory.GetSnapshot(0).Rejected[RejectionReasons.GlobalLimit].Should().Be(rejectedBefore + Excess);

            // At the cap the server still answers: a further upgrade gets 503, not a hang or a crash.
            await using (var late = await RawWebSocketClient.OpenAsync(server.BaseUri))
            {
                (await late.HandshakeAsync(server.BaseUri, "late")).Should().Be(503);
            }

            var expected = open.GroupBy(o => o.User).ToDictionary(g => g.Key, g => g.Count());
            await PoolInvariants.AssertSettledAsync(server, expected);
            foreach (var (client, _) in open)
            {
                if (round % 2 == 0)
                {
                    client.Reset();
                }
                else
                {
                    await client.DisposeAsync();
                }
            }
        }, time, rounds: ReliabilitySettings.Long ? 10 : 3, peakConnections: Cap);

        await ReliabilityEchoHandler.AssertEchoRoundTripAsync(server);
    }

    [Fact]
    public async Task Connect_StormAcrossManyUsers_EachUserGetsExactlyItsLimit()
    {
        const int PerUser = 5;
        var users = 100 * ReliabilitySettings.Scale;
        const int AttemptsPerUser = PerUser + 1;
        var time = new FakeTimeProvider();
        await using var server = await PoolTestServer.StartAsync(
            o =>
            {
                o.MaxConnectionsPerUser = PerUser;
                o.MaxConnections = 19_000;
            },
            p => p.AddHandler<ReliabilityEchoHandler>(),
            s => s.AddSingleton<TimeProvider>(time));

        await PoolInvariants.AssertNoGrowthAsync(server, async round =>
        {
            var open = new ConcurrentBag<RawWebSocketClient>();
            var statuses = new ConcurrentDictionary<int, int>();
            var order = Enumerable.Range(0, users * AttemptsPerUser).OrderBy(_ => Random.Shared.Next()).ToArray();
            await ForEachBoundedAsync(order.Length, 64, async i =>
            {
                var client = await RawWebSocketClient.OpenAsync(server.BaseUri, bufferSize: 1024);
                using var cts = new CancellationTokenSource(s_deadline);
                var status = await client.HandshakeAsync(server.BaseUri, $"storm{round}-{order[i] % users}", cts.Token);
                statuses.AddOrUpdate(status, 1, static (_, n) => n + 1);
                if (status == 101)
                {
                    open.Add(client);
                }
                else
                {
                    await client.DisposeAsync();
                }
            });

            statuses.Should().BeEquivalentTo(new Dictionary<int, int> { [101] = users * PerUser, [429] = users }, "each user gets exactly its limit, and one 429");
            var expected = Enumerable.Range(0, users).ToDictionary(u => $"storm{round}-{u}", _ => PerUser);
            await PoolInvariants.AssertSettledAsync(server, expected);

            var closing = open.ToArray();
            await ForEachBoundedAsync(closing.Length, 64, async i =>
            {
                if (i % 3 == 0)
                {
                    closing[i].Reset();
                }
                else if (i % 3 == 1)
                {
                    await closing[i].SendCloseAsync(1000);
                    await closing[i].ReadUntilEndAsync(s_deadline);
                    await closing[i].DisposeAsync();
                }
                else
                {
                    await closing[i].DisposeAsync();
                }
            });
        }, time, rounds: ReliabilitySettings.Long ? 20 : 10, peakConnections: users * PerUser);

        await ReliabilityEchoHandler.AssertEchoRoundTripAsync(server);
    }

    [Fact]
    public async Task Send_SlowConsumerAmongFastOnes_OnlyTheSlowOneIsDisconnected()
    {
        const int Fast = 4;
        const int PayloadBytes = 128 * 1024;
        await using var server = await PoolTestServer.StartAsync(
            o =>
            {
                o.SendQueueCapacity = 16;
                o.SlowConsumerPolicy = SlowConsumerPolicy.Disconnect;
                o.SendTimeout = TimeSpan.FromSeconds(1);
            },
            p => p.AddHandler<ReliabilityEchoHandler>());

        for (var round = 0; round < (ReliabilitySettings.Long ? 10 : 2); round++)
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            var fast = new List<RawWebSocketClient>();
            var received = new int[Fast];
            var readers = new List<Task>();
            for (var i = 0; i < Fast; i++)
            {
                var client = await RawWebSocketClient.ConnectAsync(server.BaseUri, "fast" + i, bufferSize: PayloadBytes + 64);
                fast.Add(client);
                var index = i;
                readers.Add(Task.Run(async () =>
                {
                    while (await client.ReceiveDataFrameAsync(stop.Token) is { Opcode: not RawWebSocketClient.Close })
                    {
                        Interlocked.Increment(ref received[index]);
                    }
                }));
            }

            // Upgraded, then never reads again: its buffers fill, then its queue.
            await using var slow = await RawWebSocketClient.ConnectAsync(server.BaseUri, "slow", bufferSize: PayloadBytes + 64);
            await PoolTestServer.WaitUntilAsync(() => server.Factory.ActiveConnections == Fast + 1, s_deadline, "everyone is connected");

            var payload = new byte[PayloadBytes];
            var sent = 0;
            const int MaxMessages = 2000;
            while (server.Factory.GetConnectionCount("slow") > 0 && sent < MaxMessages)
            {
                await server.Sender.SendToAllAsync(payload, System.Net.WebSockets.WebSocketMessageType.Binary);
                sent++;

                // The fast consumers keep up: never more than a few messages behind, far below the queue capacity.
                await PoolTestServer.WaitUntilAsync(() => Enumerable.Range(0, Fast).All(i => Volatile.Read(ref received[i]) >= sent - 4), s_deadline, "the fast consumers keep up");
            }

            // Its queue overflowed (4002) or a send stuck past SendTimeout: either way the socket is aborted within one
            // send timeout and its slot released; on a fast machine the messages above can all go out before that.
            await PoolTestServer.WaitUntilAsync(() => server.Factory.GetConnectionCount("slow") == 0, s_deadline,
                $"the slow consumer is disconnected within {MaxMessages} messages and one send timeout");
            for (var i = 0; i < 10; i++)
            {
                (await server.Sender.SendToAllAsync(payload, System.Net.WebSockets.WebSocketMessageType.Binary)).Should().Be(Fast);
                sent++;
            }

            await PoolTestServer.WaitUntilAsync(() => Enumerable.Range(0, Fast).All(i => Volatile.Read(ref received[i]) == sent), s_deadline, "every fast consumer gets every message");
            await PoolInvariants.AssertSettledAsync(server, Enumerable.Range(0, Fast).ToDictionary(i => "fast" + i, _ => 1));

            var end = await slow.ReadUntilEndAsync(s_deadline);
            (end.CloseCode is null or WebSocketCloseCodes.SlowConsumer).Should().BeTrue("the slow consumer gets 4002 or, stuck behind its full buffers, a dropped connection ({0})", end);

            foreach (var client in fast)
            {
                await client.SendCloseAsync(1000);
            }

            await Task.WhenAll(readers).WaitAsync(s_deadline);
            foreach (var client in fast)
            {
                await client.DisposeAsync();
            }

            await PoolInvariants.AssertSettledAsync(server);
        }

        await ReliabilityEchoHandler.AssertEchoRoundTripAsync(server);
    }

    [Fact]
    public async Task Receive_HandlerThrowsOnEveryMessage_EachConnectionClosed1011AndServerFine()
    {
        var time = new FakeTimeProvider();
        await using var server = await PoolTestServer.StartAsync(
            pool: p => p.AddHandler<ThrowingHandler>(),
            services: s => s.AddSingleton<TimeProvider>(time));

        await PoolInvariants.AssertNoGrowthAsync(server, async _ =>
        {
            var clients = new List<RawWebSocketClient>();
            foreach (var user in new[] { "thrower-sync", "thrower-async", "thrower-sync", "thrower-async" })
            {
                var client = await RawWebSocketClient.ConnectAsync(server.BaseUri, user);
                clients.Add(client);
                await client.SendTextAsync("boom");
            }

            foreach (var client in clients)
            {
                var end = await client.ReadUntilEndAsync(s_deadline);
                end.CloseCode.Should().Be(WebSocketCloseCodes.InternalError, "a throwing handler costs only its own connection, with 1011 ({0})", end);
                end.DataFrames.Should().Be(0);
                await client.DisposeAsync();
            }

            // Others on the same server are served between the failures.
            await using var other = await RawWebSocketClient.ConnectAsync(server.BaseUri, "bystander");
            await other.SendTextAsync("fine");
            using var cts = new CancellationTokenSource(s_deadline);
            (await other.ReceiveDataFrameAsync(cts.Token))!.Value.Text.Should().Be("fine");
            await other.SendCloseAsync(1000);
            (await other.ReadUntilEndAsync(s_deadline)).CloseCode.Should().Be(1000);
        }, time, peakConnections: 5);
    }

    /// <summary>Runs <paramref name="count"/> operations with at most <paramref name="parallelism"/> in flight.</summary>
    internal static async Task ForEachBoundedAsync(int count, int parallelism, Func<int, Task> body)
    {
        var next = -1;
        var workers = Enumerable.Range(0, parallelism).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                await body(i);
            }
        }));
        await Task.WhenAll(workers);
    }

    /// <summary>Echoes for most users; throws on every message of users named thrower-*, synchronously or from an await.</summary>
    private sealed class ThrowingHandler : WebSocketHandler
    {
        public override ValueTask OnMessageAsync(WebSocketConnection connection, WebSocketMessage message, CancellationToken cancellationToken)
        {
            return connection.UserKey switch
            {
                "thrower-sync" => throw new InvalidOperationException("The handler failed before returning a task."),
                "thrower-async" => ThrowLaterAsync(),
                _ => Echo(connection, message),
            };
        }

        private static async ValueTask ThrowLaterAsync()
        {
            await Task.Yield();
            throw new InvalidOperationException("The handler failed after an await.");
        }

        private static ValueTask Echo(WebSocketConnection connection, WebSocketMessage message)
        {
            connection.Send(message.Payload.ToArray(), message.MessageType);
            return default;
        }
    }
}

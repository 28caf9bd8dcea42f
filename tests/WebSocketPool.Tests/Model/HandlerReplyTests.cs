// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using CsCheck;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using WebSocketPool.Internal;

namespace WebSocketPool.Tests.Model;

/// <summary>
/// A reply a handler queues on its own connection while the writer is idle goes on the wire from the handler's call,
/// as a bare Kestrel handler's send would; it still goes through the one writer, so it keeps its order against sends
/// from other threads, queue give-backs and a writer busy with a slow client.
/// </summary>
public sealed class HandlerReplyTests : IDisposable
{
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(30);

    // Set by the handler around its send: a server write seen while it is set happened inside the handler's call.
    [ThreadStatic]
    private static bool s_inHandlerSend;

    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private int _writerBusyAtReply;
    private int _samples;

    public void Dispose() => _services.Dispose();

    [Fact]
    public async Task Reply_ToAnIdleWriter_IsWrittenInsideTheHandlersCall()
    {
        const int Messages = 500;
        using var factory = CreateFactory();
        using var replies = new SemaphoreSlim(0);
        var received = new ConcurrentQueue<string>();
        var writesInHandler = 0;
        var writesElsewhere = 0;
        var pair = new InMemoryWebSocketPair(
            onMessage: m =>
            {
                received.Enqueue(Encoding.ASCII.GetString(m.Span));
                replies.Release();
            },
            onServerWrite: () =>
            {
                if (s_inHandlerSend)
                {
                    Interlocked.Increment(ref writesInHandler);
                }
                else
                {
                    Interlocked.Increment(ref writesElsewhere);
                }
            });
        var admission = factory.TryAdmit("u", IPAddress.Loopback);
        var run = admission.Manager!.RunAsync(pair.Server, new ReplyHandler(), CancellationToken.None);

        for (var i = 1; i <= Messages; i++)
        {
            await pair.Client.SendAsync(Encoding.ASCII.GetBytes("p:" + i.ToString(CultureInfo.InvariantCulture)), WebSocketMessageType.Text, true, CancellationToken.None);
            (await replies.WaitAsync(s_deadline)).Should().BeTrue($"the reply to message {i} arrives");
        }

        received.Select(Number).Should().Equal(Enumerable.Range(1, Messages), "every reply arrives once, in order");
        writesInHandler.Should().BeGreaterThanOrEqualTo(Messages, "each reply was written by the handler's own call, not later by a thread-pool thread");
        writesElsewhere.Should().Be(0);

        pair.CloseFromClient();
        await run.WaitAsync(s_deadline);
        factory.ActiveConnections.Should().Be(0);
    }

    [Fact]
    public void Replies_RacingSendsFromAnotherThreadAndGiveBacks_EveryMessageOnceInEachSendersOrder()
    {
        var bursts = Gen.Select(Gen.Int[1, 10], Gen.Int[0, 2]).Array[1, 6];
        var sweeps = Gen.Int[0, 2].Array[2, 16];
        Gen.Select(bursts, bursts, sweeps).Sample(
            schedule => RunSchedule(schedule.Item1, schedule.Item2, schedule.Item3),
            iter: 400,
            threads: 1);

        // The schedules did reply while the writer was in the middle of another send (not only to an idle writer).
        _writerBusyAtReply.Should().BeGreaterThan(_samples / 10);
    }

    private void RunSchedule((int Count, int Yields)[] pings, (int Count, int Yields)[] others, int[] sweepYields)
    {
        using var factory = CreateFactory();
        var received = new ConcurrentQueue<string>();

        var handler = new ReplyHandler();

        // A client that takes little at a time: replies often meet a writer in the middle of a send.
        var pair = new InMemoryWebSocketPair(m => received.Enqueue(Encoding.ASCII.GetString(m.Span)), toClientBytes: 32, onServerWrite: handler.OnServerWrite);
        var admission = factory.TryAdmit("u", IPAddress.Loopback);
        var manager = admission.Manager!;
        var handle = new WebSocketConnection(manager, admission.Generation, manager.GetConnectionId(), "u");
        var run = manager.RunAsync(pair.Server, handler, CancellationToken.None);

        async Task PingAsync()
        {
            await Task.Yield();
            var n = 0;
            foreach (var (count, yields) in pings)
            {
                for (var i = 0; i < count; i++)
                {
                    await pair.Client.SendAsync(Encoding.ASCII.GetBytes("p:" + (++n).ToString(CultureInfo.InvariantCulture)), WebSocketMessageType.Text, true, CancellationToken.None);
                }

                for (var y = 0; y < yields; y++)
                {
                    await Task.Yield();
                }
            }
        }

        async Task SendAsync()
        {
            await Task.Yield();
            var n = 0;
            foreach (var (count, yields) in others)
            {
                for (var i = 0; i < count; i++)
                {
                    handle.SendText("b:" + (++n).ToString(CultureInfo.InvariantCulture)).Should().Be(SendResult.Queued);
                }

                for (var y = 0; y < yields; y++)
                {
                    await Task.Yield();
                }
            }
        }

        async Task SweepAsync()
        {
            await Task.Yield();
            foreach (var yields in sweepYields)
            {
                manager.GiveBackIdleQueue();
                for (var y = 0; y < yields; y++)
                {
                    await Task.Yield();
                }
            }
        }

        Task.WhenAll(PingAsync(), SendAsync(), SweepAsync()).WaitAsync(s_deadline).GetAwaiter().GetResult();
        var replies = pings.Sum(b => b.Count);
        var sent = others.Sum(b => b.Count);
        _samples++;
        _writerBusyAtReply += handler.RepliesToABusyWriter > 0 ? 1 : 0;
        SpinWait.SpinUntil(() => received.Count >= replies + sent, s_deadline).Should().BeTrue($"{replies} replies and {sent} other messages arrive");

        var messages = received.ToArray();
        messages.Should().OnlyHaveUniqueItems();
        messages.Where(m => m[0] == 'r').Select(Number).Should().Equal(Enumerable.Range(1, replies));
        messages.Where(m => m[0] == 'b').Select(Number).Should().Equal(Enumerable.Range(1, sent));

        pair.CloseFromClient();
        run.WaitAsync(s_deadline).GetAwaiter().GetResult();
        pair.ClientLoop.WaitAsync(s_deadline).GetAwaiter().GetResult();
        factory.ActiveConnections.Should().Be(0);
    }

    private PooledWebSocketManagerFactory CreateFactory() => new(
        Options.Create(new WebSocketPoolOptions { KeepAliveInterval = TimeSpan.Zero, AuditInterval = TimeSpan.Zero, SendQueueCapacity = 1024 }),
        new FakeTimeProvider(),
        new WebSocketPoolMetrics(_services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()));

    private static int Number(string message) => int.Parse(message.AsSpan(2), CultureInfo.InvariantCulture);

    /// <summary>Answers "p:N" with "r:N" on the same connection, from inside its callback.</summary>
    private sealed class ReplyHandler : WebSocketHandler
    {
        private int _writesInside;

        /// <summary>Gets how many replies were not written inside the handler's call: the writer was busy with another send.</summary>
        public int RepliesToABusyWriter { get; private set; }

        public void OnServerWrite()
        {
            if (s_inHandlerSend)
            {
                _writesInside++;
            }
        }

        public override ValueTask OnMessageAsync(WebSocketConnection connection, WebSocketMessage message, CancellationToken cancellationToken)
        {
            var reply = Encoding.ASCII.GetBytes("r:" + Encoding.ASCII.GetString(message.Payload.Span[2..]));
            var before = _writesInside;
            s_inHandlerSend = true;
            try
            {
                connection.Send(reply, WebSocketMessageType.Text).Should().Be(SendResult.Queued);
            }
            finally
            {
                s_inHandlerSend = false;
            }

            if (_writesInside == before)
            {
                RepliesToABusyWriter++;
            }

            return default;
        }
    }
}

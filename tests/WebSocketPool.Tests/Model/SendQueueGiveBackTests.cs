// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text;
using CsCheck;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using WebSocketPool.Internal;

namespace WebSocketPool.Tests.Model;

/// <summary>
/// An idle connection's send queue is given back and made again on the next send, while other threads send: random
/// schedules of send bursts from two threads and give-backs from a third, on a real (in-memory) WebSocket. Whatever the
/// interleaving, the client receives every message exactly once, each thread's in the order it sent them, and never two
/// writers at once (two concurrent sends on one socket would fail it and lose messages).
/// </summary>
public sealed class SendQueueGiveBackTests : IDisposable
{
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(30);
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private int _givenBackWhileSending;
    private int _samples;

    public void Dispose() => _services.Dispose();

    [Fact]
    public void GiveBack_RacingSendsFromTwoThreads_EveryMessageOnceInEachSendersOrder()
    {
        var bursts = Gen.Select(Gen.Int[1, 12], Gen.Int[0, 2]).Array[1, 8];
        var sweeps = Gen.Int[0, 2].Array[2, 24];
        Gen.Select(bursts, bursts, sweeps).Sample(
            schedule => RunSchedule(schedule.Item1, schedule.Item2, schedule.Item3),
            iter: 1000,
            threads: 1);

        // The schedules did race give-backs against sends (not only give-backs after the last send).
        _givenBackWhileSending.Should().BeGreaterThan(_samples / 10);
    }

    private void RunSchedule((int Count, int Yields)[] first, (int Count, int Yields)[] second, int[] sweepYields)
    {
        using var factory = new PooledWebSocketManagerFactory(
            Options.Create(new WebSocketPoolOptions { KeepAliveInterval = TimeSpan.Zero, AuditInterval = TimeSpan.Zero, SendQueueCapacity = 1024 }),
            new FakeTimeProvider(),
            new WebSocketPoolMetrics(_services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()));
        var received = new ConcurrentQueue<string>();
        // A client that takes little at a time: the writer is often mid-send when its queue is empty and given back.
        var pair = new InMemoryWebSocketPair(m => received.Enqueue(Encoding.ASCII.GetString(m.Span)), toClientBytes: 32);
        var admission = factory.TryAdmit("u", IPAddress.Loopback);
        var manager = admission.Manager!;
        var handle = new WebSocketConnection(manager, admission.Generation, manager.GetConnectionId(), "u");
        var run = manager.RunAsync(pair.Server, new NoOpWebSocketHandler(), CancellationToken.None);
        var givenBack = 0;

        async Task SendAsync(string sender, (int Count, int Yields)[] plan)
        {
            await Task.Yield();
            var n = 0;
            foreach (var (count, yields) in plan)
            {
                for (var i = 0; i < count; i++)
                {
                    handle.SendText(sender + ":" + (++n).ToString(CultureInfo.InvariantCulture)).Should().Be(SendResult.Queued);
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
                if (manager.GiveBackIdleQueue())
                {
                    givenBack++;
                }

                for (var y = 0; y < yields; y++)
                {
                    await Task.Yield();
                }
            }
        }

        Task.WhenAll(SendAsync("a", first), SendAsync("b", second), SweepAsync()).WaitAsync(s_deadline).GetAwaiter().GetResult();
        var expected = first.Sum(b => b.Count) + second.Sum(b => b.Count);
        _samples++;
        _givenBackWhileSending += givenBack > 0 ? 1 : 0;
        SpinWait.SpinUntil(() => received.Count >= expected, s_deadline).Should().BeTrue($"{expected} messages arrive (given back {givenBack} times)");

        // After the sends, two more looks give the idle queue back (if the sweeps have not already); the next send makes
        // a new one.
        manager.GiveBackIdleQueue();
        manager.GiveBackIdleQueue();
        manager.HasSendQueue.Should().BeFalse("a queue unused since the last look and empty is given back");
        handle.SendText("c:1").Should().Be(SendResult.Queued);
        SpinWait.SpinUntil(() => received.Count == expected + 1, s_deadline).Should().BeTrue("the send after the give-back arrives");

        var messages = received.ToArray();
        messages.Should().OnlyHaveUniqueItems();
        messages.Where(m => m[0] == 'a').Select(Number).Should().Equal(Enumerable.Range(1, first.Sum(b => b.Count)));
        messages.Where(m => m[0] == 'b').Select(Number).Should().Equal(Enumerable.Range(1, second.Sum(b => b.Count)));
        messages[^1].Should().Be("c:1");

        pair.CloseFromClient();
        run.WaitAsync(s_deadline).GetAwaiter().GetResult();
        pair.ClientLoop.WaitAsync(s_deadline).GetAwaiter().GetResult();
        factory.ActiveConnections.Should().Be(0);
    }

    private static int Number(string message) => int.Parse(message.AsSpan(2), CultureInfo.InvariantCulture);
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net.WebSockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using WebSocketPool.Internal;
using WebSocketPool.Tests.Model;

namespace WebSocketPool.Tests.Messaging;

/// <summary>
/// A broadcast walks the registry's table of open connections: every open connection gets one copy however connections
/// came and went before (freed places are reused). What a broadcast allocates is measured by the benchmarks
/// (<c>WebSocketPool.Benchmarks --allocations</c>), not here: what a send allocates also depends on whether it wakes a
/// parked writer, which a test cannot hold steady.
/// </summary>
public sealed class BroadcastTests : IDisposable
{
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(20);
    private static readonly byte[] s_payload = "broadcast"u8.ToArray();

    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly PooledWebSocketManagerFactory _factory;
    private readonly LocalWebSocketSender _sender;
    private readonly List<(InMemoryWebSocketPair Pair, Task Run)> _connections = [];

    public BroadcastTests()
    {
        var options = new WebSocketPoolOptions { AuditInterval = TimeSpan.Zero, KeepAliveInterval = TimeSpan.Zero, MaxConnections = 1_000, SendQueueCapacity = 1_024 };
        _factory = new PooledWebSocketManagerFactory(Options.Create(options), TimeProvider.System, new WebSocketPoolMetrics(_services.GetRequiredService<IMeterFactory>()));
        _sender = new LocalWebSocketSender(_factory);
    }

    public void Dispose()
    {
        foreach (var (pair, _) in _connections)
        {
            pair.Drop();
        }

        Task.WaitAll([.. _connections.Select(c => c.Run)], s_deadline);
        _factory.Dispose();
        _services.Dispose();
    }

    [Fact]
    public void SendToAll_HalfClosedThenReopened_EveryOpenConnectionGetsOneCopy()
    {
        // Arrange: 200 open, every other one closed by its client, 100 new ones in the freed places.
        Open(200);
        WaitUntil(() => _factory.OpenConnectionCount == 200, "every connection is open");
        for (var i = 0; i < 200; i += 2)
        {
            _connections[i].Pair.CloseFromClient();
        }

        WaitUntil(() => _factory.OpenConnectionCount == 100 && _factory.ActiveConnections == 100, "the closed ones are released");
        Open(100, first: 200);
        WaitUntil(() => _factory.OpenConnectionCount == 200, "the new connections are open");

        // Act
        var delivered = _sender.SendToAll(s_payload, WebSocketMessageType.Text);

        // Assert
        delivered.Should().Be(200, "each open connection is in the table once, and no closed one is");
    }

    private static void WaitUntil(Func<bool> condition, string because) =>
        SpinWait.SpinUntil(condition, s_deadline).Should().BeTrue(because);

    private void Open(int count, int first = 0)
    {
        var handler = new NoOpWebSocketHandler();
        for (var i = first; i < first + count; i++)
        {
            var admission = _factory.TryAdmit("user-" + i.ToString(CultureInfo.InvariantCulture));
            admission.IsAdmitted.Should().BeTrue();
            var pair = new InMemoryWebSocketPair();
            _connections.Add((pair, admission.Manager!.RunAsync(pair.Server, handler, CancellationToken.None)));
        }
    }
}

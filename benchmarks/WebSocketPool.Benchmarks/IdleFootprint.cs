// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using System.Threading.Channels;

namespace WebSocketPool.Benchmarks;

/// <summary>
/// A profile of what an idle connection keeps alive, without Kestrel: N server-side WebSockets over in-memory
/// streams, each either waiting in a bare zero-byte <c>ReceiveAsync</c> or run by the pool, and the live managed
/// bytes per connection after a full GC. The difference is the pool's own per-connection overhead; a bounded
/// channel like the pool's send queue is measured alone for comparison. Run with <c>--footprint</c>.
/// </summary>
internal static class IdleFootprint
{
    public static Dictionary<string, double> Measure(int connections)
    {
        var results = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["connections"] = connections,
            ["bareZeroByteReadBytes"] = PerConnection(connections, OpenBare),
            ["poolConnectionBytes"] = PoolPerConnection(connections),
            ["boundedChannelBytes"] = PerConnection(connections, static (_, _) => Channel.CreateBounded<(ReadOnlyMemory<byte>, WebSocketMessageType)>(
                new BoundedChannelOptions(256) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait })),
        };
        results["poolOverheadBytes"] = results["poolConnectionBytes"] - results["bareZeroByteReadBytes"];
        return results;
    }

    private static object OpenBare(int index, CancellationToken cancellationToken)
    {
        var socket = WebSocket.CreateFromStream(new SinkStream(new WriteCounter()), new WebSocketCreationOptions { IsServer = true, KeepAliveInterval = TimeSpan.Zero });
        return (socket, socket.ReceiveAsync(Memory<byte>.Empty, cancellationToken).AsTask());
    }

    private static double PoolPerConnection(int connections)
    {
        var (factory, services) = PoolFactories.Create(new WebSocketPoolOptions { MaxConnections = connections + 10, MaxConnectionsPerUser = 10, KeepAliveInterval = TimeSpan.Zero });
        using (services)
        using (factory)
        {
            var handler = new FootprintHandler();
            return PerConnection(connections, (index, cancellationToken) =>
            {
                var admission = factory.TryAdmit("user-" + index.ToString(System.Globalization.CultureInfo.InvariantCulture));
                var socket = WebSocket.CreateFromStream(new SinkStream(new WriteCounter()), new WebSocketCreationOptions { IsServer = true, KeepAliveInterval = TimeSpan.Zero });
                return admission.Manager!.RunAsync(socket, handler, cancellationToken);
            });
        }
    }

    private static double PerConnection(int connections, Func<int, CancellationToken, object> open)
    {
        using var lifetime = new CancellationTokenSource();
        var held = new List<object>(connections);
        var before = LiveBytes();
        for (var i = 0; i < connections; i++)
        {
            held.Add(open(i, lifetime.Token));
        }

        var after = LiveBytes();
        GC.KeepAlive(held);
        lifetime.Cancel();
        var tasks = held.OfType<Task>().Concat(held.OfType<(WebSocket, Task)>().Select(p => p.Item2)).ToArray();
        try
        {
            Task.WaitAll(tasks, TimeSpan.FromSeconds(30));
        }
        catch (AggregateException)
        {
            // Cancelled receives end with OperationCanceledException; that is how they are stopped.
        }

        return Math.Round((after - before) / (double)connections, 1);
    }

    private static long LiveBytes()
    {
        for (var i = 0; i < 2; i++)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }

        return GC.GetTotalMemory(forceFullCollection: false);
    }

    private sealed class FootprintHandler : WebSocketHandler
    {
    }
}

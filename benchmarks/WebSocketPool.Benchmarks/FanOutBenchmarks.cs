// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.DependencyInjection;
using WebSocketPool.Internal;

namespace WebSocketPool.Benchmarks;

/// <summary>
/// Send to one user with 10 open connections, through the pool's real send path: <c>IWebSocketSender.SendToUserAsync</c>
/// looks the user up, queues on each connection's bounded channel, and each connection's single writer frames the
/// message with a real server-side <see cref="WebSocket"/>. The socket's transport is an in-memory
/// <see cref="SinkStream"/>, so no kernel or network cost is included. One operation is one send to the user (10
/// deliveries); a batch of sends is timed until every frame has been written. The same 10 connections are also one
/// group's members and, being all the node's connections, every broadcast's recipients, so the group and broadcast
/// paths are measured the same way.
/// </summary>
[MemoryDiagnoser]
[BenchmarkCategory("fan-out")]
public class FanOutBenchmarks
{
    internal const int SendsPerBatch = Batch;
    private const int Batch = 200;
    private const int Connections = 10;
    private const string User = "fan";
    private const string Group = "fan-group";
    private static readonly byte[] s_payload = new byte[32];

    // A server frame of a 32-byte payload: 2 header bytes, no mask.
    private const int FrameBytes = 2 + 32;

    private readonly WriteCounter _counter = new();
    private readonly CancellationTokenSource _lifetime = new();
    private readonly List<Task> _runs = [];
    private PooledWebSocketManagerFactory _factory = null!;
    private ServiceProvider _services = null!;
    private LocalWebSocketSender _sender = null!;

    [GlobalSetup]
    public void Setup()
    {
        (_factory, _services) = PoolFactories.Create(new WebSocketPoolOptions
        {
            MaxConnectionsPerUser = Connections,
            SendQueueCapacity = 4 * Batch,
            KeepAliveInterval = TimeSpan.Zero,
        });
        _sender = new LocalWebSocketSender(_factory);
        var handler = new IdleHandler();
        for (var i = 0; i < Connections; i++)
        {
            var admission = _factory.TryAdmit(User);
            if (!admission.IsAdmitted)
            {
                throw new InvalidOperationException($"Connection {i} was refused: {admission.RejectionReason}.");
            }

            var socket = WebSocket.CreateFromStream(new SinkStream(_counter), new WebSocketCreationOptions { IsServer = true, KeepAliveInterval = TimeSpan.Zero });
            _runs.Add(admission.Manager!.RunAsync(socket, handler, _lifetime.Token));
        }

        if (_factory.GetConnections(User).Count != Connections)
        {
            throw new InvalidOperationException("The connections did not open.");
        }

        foreach (var connection in _factory.GetConnections(User))
        {
            if (!_sender.AddToGroup(connection.ConnectionId, Group))
            {
                throw new InvalidOperationException("A connection did not join the group.");
            }
        }

        // Steady state: every connection has sent once (its queue and writer exist) before anything is measured.
        SendToUser();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _lifetime.Cancel();
        Task.WhenAll(_runs).Wait(TimeSpan.FromSeconds(10));
        _factory.Dispose();
        _services.Dispose();
        _counter.Dispose();
        _lifetime.Dispose();
    }

    [Benchmark(OperationsPerInvoke = Batch, Description = "SendToUserAsync, 10 connections, 32 B")]
    public int SendToUser() => Run(static (sender, _) => sender.SendToUserAsync(User, s_payload, WebSocketMessageType.Binary));

    [Benchmark(OperationsPerInvoke = Batch, Description = "SendToGroupAsync, 10 members, 32 B")]
    public int SendToGroup() => Run(static (sender, _) => sender.SendToGroupAsync(Group, s_payload, WebSocketMessageType.Binary));

    [Benchmark(OperationsPerInvoke = Batch, Description = "SendToAllAsync, 10 connections, 32 B")]
    public int SendToAll() => Run(static (sender, _) => sender.SendToAllAsync(s_payload, WebSocketMessageType.Binary));

    private int Run(Func<LocalWebSocketSender, int, ValueTask<int>> send)
    {
        _counter.Expect((long)Batch * Connections * FrameBytes);
        var delivered = 0;
        for (var i = 0; i < Batch; i++)
        {
            var pending = send(_sender, i);
            delivered += pending.IsCompletedSuccessfully ? pending.Result : pending.AsTask().GetAwaiter().GetResult();
        }

        if (delivered != Batch * Connections || !_counter.Wait(TimeSpan.FromSeconds(30)))
        {
            throw new InvalidOperationException($"Only {delivered} of {Batch * Connections} messages were queued or written.");
        }

        return delivered;
    }

    private sealed class IdleHandler : WebSocketHandler
    {
    }
}

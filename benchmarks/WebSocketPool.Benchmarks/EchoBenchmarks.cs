// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.DependencyInjection;

namespace WebSocketPool.Benchmarks;

/// <summary>
/// Echo through the pool's whole message path on 10 connections: the idle zero-byte read wakes, the receive loop reads
/// the client's masked 32-byte frame into a rented buffer, the handler is called and sends 32 bytes back, the send
/// queue's single writer frames them. The transport is an in-memory <see cref="FeedStream"/>: one frame is fed to each
/// connection, then the batch waits until every echo has been written, so each connection goes idle between messages.
/// The handler replies with a payload of its own rather than a copy of the message (the sample echo handlers copy it
/// with <c>ToArray</c>, the app's allocation, not the pool's).
/// </summary>
[MemoryDiagnoser]
[BenchmarkCategory("echo")]
public class EchoBenchmarks
{
    internal const int EchoesPerBatch = Rounds * Connections;
    private const int Rounds = 20;
    private const int Connections = 10;
    private const int Payload = 32;

    // A server frame of a 32-byte payload: 2 header bytes, no mask.
    private const int EchoFrameBytes = 2 + Payload;

    private readonly WriteCounter _counter = new();
    private readonly CancellationTokenSource _lifetime = new();
    private readonly List<Task> _runs = [];
    private readonly List<FeedStream> _streams = [];
    private readonly byte[] _clientFrame = ClientFrame(Payload);
    private PooledWebSocketManagerFactory _factory = null!;
    private ServiceProvider _services = null!;

    [GlobalSetup]
    public void Setup()
    {
        (_factory, _services) = PoolFactories.Create(new WebSocketPoolOptions
        {
            MaxConnectionsPerUser = Connections,
            KeepAliveInterval = TimeSpan.Zero,
        });
        var handler = new ReplyHandler();
        for (var i = 0; i < Connections; i++)
        {
            var admission = _factory.TryAdmit("echo");
            if (!admission.IsAdmitted)
            {
                throw new InvalidOperationException($"Connection {i} was refused: {admission.RejectionReason}.");
            }

            var stream = new FeedStream(_counter);
            _streams.Add(stream);
            var socket = WebSocket.CreateFromStream(stream, new WebSocketCreationOptions { IsServer = true, KeepAliveInterval = TimeSpan.Zero });
            _runs.Add(admission.Manager!.RunAsync(socket, handler, _lifetime.Token));
        }

        // Steady state: every connection has echoed once (its queue and writer exist) before anything is measured.
        Echo();
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

    [Benchmark(OperationsPerInvoke = EchoesPerBatch, Description = "Echo, 10 connections, 32 B")]
    public int Echo()
    {
        for (var round = 0; round < Rounds; round++)
        {
            _counter.Expect((long)Connections * EchoFrameBytes);
            foreach (var stream in _streams)
            {
                stream.Feed(_clientFrame);
            }

            if (!_counter.Wait(TimeSpan.FromSeconds(30)))
            {
                throw new InvalidOperationException($"Round {round}: not every echo was written.");
            }
        }

        return EchoesPerBatch;
    }

    /// <summary>A client's binary frame (FIN, masked, as RFC 6455 requires of clients) of <paramref name="length"/> bytes.</summary>
    private static byte[] ClientFrame(int length)
    {
        var frame = new byte[2 + 4 + length];
        frame[0] = 0x82;
        frame[1] = (byte)(0x80 | length);
        ReadOnlySpan<byte> mask = [0x12, 0x34, 0x56, 0x78];
        mask.CopyTo(frame.AsSpan(2));
        for (var i = 0; i < length; i++)
        {
            frame[6 + i] = (byte)((byte)i ^ mask[i % 4]);
        }

        return frame;
    }

    private sealed class ReplyHandler : WebSocketHandler
    {
        private static readonly byte[] s_reply = new byte[Payload];

        public override ValueTask OnMessageAsync(WebSocketConnection connection, WebSocketMessage message, CancellationToken cancellationToken)
        {
            connection.Send(s_reply, WebSocketMessageType.Binary);
            return default;
        }
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;
using System.Net.WebSockets;
using Microsoft.Extensions.DependencyInjection;
using WebSocketPool.IntegrationTests.Reliability;

namespace WebSocketPool.IntegrationTests.Connections;

/// <summary>
/// Each connection gets its own DI scope through <see cref="WebSocketConnection.Services"/>, disposed after
/// <see cref="WebSocketHandler.OnDisconnectedAsync"/> on every path out: a client's close, a dropped socket, a kick.
/// </summary>
public sealed class ScopedServiceTests
{
    private const int Closed = 80;
    private const int Dropped = 60;
    private const int Kicked = 60;
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Services_200ConnectionsEndingByCloseDropAndKick_OneScopePerConnectionEachDisposedOnceAfterOnDisconnected()
    {
        // Arrange
        await using var server = await PoolTestServer.StartAsync(
            o => o.MaxConnections = 1000,
            pool: p => p.AddHandler<ScopeUsingHandler>(),
            services: s => s.AddSingleton<ScopeLedger>().AddScoped<ConnectionUnitOfWork>());
        var ledger = server.App.Services.GetRequiredService<ScopeLedger>();
        var handler = server.App.Services.GetRequiredService<ScopeUsingHandler>();
        var total = Closed + Dropped + Kicked;
        var clients = new ClientWebSocket[total];
        for (var i = 0; i < total; i++)
        {
            clients[i] = await server.ConnectAsync($"user{i}");
        }

        await Conditions.WaitAsync(() => handler.Connected == total, s_deadline, "every handler saw its connection");

        // Act: three ways out
        for (var i = 0; i < Closed; i++)
        {
            await clients[i].CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        }

        for (var i = Closed; i < Closed + Dropped; i++)
        {
            clients[i].Abort();
        }

        for (var i = Closed + Dropped; i < total; i++)
        {
            await server.Sender.DisconnectUserAsync($"user{i}", WebSocketCloseCodes.Kicked, "kicked");
        }

        for (var i = Closed + Dropped; i < total; i++)
        {
            // Answer the server's close so the kicked sockets end with a handshake, not a timeout.
            var result = await clients[i].ReceiveAsync(new byte[64], new CancellationTokenSource(s_deadline).Token);
            result.MessageType.Should().Be(WebSocketMessageType.Close);
            await clients[i].CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        }

        // Assert
        await Conditions.WaitAsync(
            () => ledger.Disposed == total && server.Factory.ActiveConnections == 0 && server.Factory.OpenConnectionCount == 0,
            s_deadline,
            $"every connection's scope is disposed (created {ledger.Created}, disposed {ledger.Disposed})");
        ledger.Created.Should().Be(total, "one scope per connection, however often a connection resolves the service");
        ledger.DisposedTwice.Should().Be(0);
        ledger.DisposedBeforeDisconnected.Should().Be(0, "the scope outlives OnDisconnectedAsync");
        handler.SameInstanceWithinConnection.Should().Be(total);
        PoolInvariants.AssertWarmManagersClean(server.Factory);
        foreach (var client in clients)
        {
            client.Dispose();
        }
    }

    /// <summary>Counts the scoped services made and disposed.</summary>
    internal sealed class ScopeLedger
    {
        private int _created;
        private int _disposed;
        private int _disposedTwice;
        private int _disposedBeforeDisconnected;

        public int Created => Volatile.Read(ref _created);

        public int Disposed => Volatile.Read(ref _disposed);

        public int DisposedTwice => Volatile.Read(ref _disposedTwice);

        public int DisposedBeforeDisconnected => Volatile.Read(ref _disposedBeforeDisconnected);

        public void OnCreated() => Interlocked.Increment(ref _created);

        public void OnDisposed(bool twice, bool beforeDisconnected)
        {
            Interlocked.Increment(ref _disposed);
            if (twice)
            {
                Interlocked.Increment(ref _disposedTwice);
            }

            if (beforeDisconnected)
            {
                Interlocked.Increment(ref _disposedBeforeDisconnected);
            }
        }
    }

    /// <summary>A scoped service that knows whether its connection's OnDisconnectedAsync has run when it is disposed.</summary>
    internal sealed class ConnectionUnitOfWork : IDisposable
    {
        private readonly ScopeLedger _ledger;
        private int _disposed;

        public ConnectionUnitOfWork(ScopeLedger ledger)
        {
            _ledger = ledger;
            ledger.OnCreated();
        }

        public bool Disconnected { get; set; }

        public void Dispose() => _ledger.OnDisposed(Interlocked.Exchange(ref _disposed, 1) == 1, !Disconnected);
    }

    /// <summary>Resolves the scoped service on connect and again on disconnect, and marks it disconnected.</summary>
    internal sealed class ScopeUsingHandler : WebSocketHandler
    {
        private readonly ConcurrentDictionary<string, ConnectionUnitOfWork> _first = new();
        private int _connected;
        private int _same;

        public int Connected => Volatile.Read(ref _connected);

        public int SameInstanceWithinConnection => Volatile.Read(ref _same);

        public override ValueTask OnConnectedAsync(WebSocketConnection connection, CancellationToken cancellationToken)
        {
            _first[connection.ConnectionId] = connection.Services.GetRequiredService<ConnectionUnitOfWork>();
            Interlocked.Increment(ref _connected);
            return default;
        }

        public override ValueTask OnDisconnectedAsync(WebSocketConnection connection, WebSocketDisconnect disconnect)
        {
            var unit = connection.Services.GetRequiredService<ConnectionUnitOfWork>();
            if (_first.TryRemove(connection.ConnectionId, out var first) && ReferenceEquals(first, unit))
            {
                Interlocked.Increment(ref _same);
            }

            unit.Disconnected = true;
            return default;
        }
    }
}

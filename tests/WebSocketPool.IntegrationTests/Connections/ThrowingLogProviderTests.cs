// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using WebSocketPool.IntegrationTests.Infrastructure;

namespace WebSocketPool.IntegrationTests.Connections;

/// <summary>
/// A logging provider that throws on every write of the pool's categories, at every level: release is structural, so
/// no path out of a connection (client close, drop, handler error, kick, eviction, drain) may skip the slot, the registry
/// or the drain because a log write failed, and no timer or background path may take the process down.
/// </summary>
public sealed class ThrowingLogProviderTests
{
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task EveryPathOut_LogProviderThrows_SlotsReleasedAndServerKeepsServing()
    {
        // Arrange
        var provider = new ThrowingLoggerProvider();
        await using var server = await PoolTestServer.StartAsync(
            o =>
            {
                o.MaxConnectionsPerUser = 2;
                o.OverflowPolicy = OverflowPolicy.EvictOldest;
                o.AlertThreshold = 0.5;
            },
            pool: p => p.AddHandler<CoreTestHandler>(),
            services: s => s.AddLogging(b => b.AddProvider(provider).AddFilter("WebSocketPool", LogLevel.Trace)));

        for (var round = 0; round < 5; round++)
        {
            // Client close.
            using (var client = await server.ConnectAsync("u"))
            {
                await client.SendTextAsync("hello");
                (await client.ReceiveTextAsync()).Should().Be("hello");
                await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
            }

            await AssertReleasedAsync(server, $"round {round}: after a client close");

            // Drop.
            var dropped = await server.ConnectAsync("u");
            await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == 1, s_deadline, "the connection is open");
            dropped.Abort();
            dropped.Dispose();
            await AssertReleasedAsync(server, $"round {round}: after a drop");

            // Handler error (1011).
            using (var failing = await server.ConnectAsync("u"))
            {
                await failing.SendTextAsync(CoreTestHandler.Boom);
                (await failing.ReceiveCloseAsync()).Should().Be(WebSocketCloseCodes.InternalError);
            }

            await AssertReleasedAsync(server, $"round {round}: after a handler error");

            // Eviction (the third connection of a user limited to two), then a kick of what is left.
            using var first = await server.ConnectAsync("u");
            using var second = await server.ConnectAsync("u");
            using var third = await server.ConnectAsync("u");
            (await first.ReceiveCloseAsync()).Should().Be(WebSocketCloseCodes.Evicted);
            (await server.Sender.DisconnectUserAsync("u")).Should().Be(2);
            (await second.ReceiveCloseAsync()).Should().Be(WebSocketCloseCodes.Kicked);
            (await third.ReceiveCloseAsync()).Should().Be(WebSocketCloseCodes.Kicked);
            await AssertReleasedAsync(server, $"round {round}: after an eviction and a kick");
        }

        // Drain: the stop completes and every socket is released.
        using var draining = await server.ConnectAsync("u");
        await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == 1, s_deadline, "the connection is open");
        var closing = draining.ReceiveCloseAsync();
        await server.App.StopAsync().WaitAsync(s_deadline);
        (await closing).Should().Be(WebSocketCloseCodes.GoingAway);
        server.Factory.ActiveConnections.Should().Be(0);
        server.Factory.OpenConnectionCount.Should().Be(0);
        provider.Thrown.Should().BePositive("the provider really threw on the pool's log writes");
    }

    private static Task AssertReleasedAsync(PoolTestServer server, string because) =>
        PoolTestServer.WaitUntilAsync(
            () => server.Factory.ActiveConnections == 0 && server.Factory.OpenConnectionCount == 0 && server.Factory.GetConnectionCount("u") == 0,
            s_deadline,
            because);

    private sealed class ThrowingLoggerProvider : ILoggerProvider
    {
        private int _thrown;

        public int Thrown => Volatile.Read(ref _thrown);

        public ILogger CreateLogger(string categoryName) =>
            categoryName.StartsWith("WebSocketPool", StringComparison.Ordinal) ? new ThrowingLogger(this) : Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

        public void Dispose()
        {
        }

        private sealed class ThrowingLogger(ThrowingLoggerProvider owner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                Interlocked.Increment(ref owner._thrown);
                throw new InvalidOperationException($"The logging provider failed on purpose ({eventId.Name}).");
            }
        }
    }
}

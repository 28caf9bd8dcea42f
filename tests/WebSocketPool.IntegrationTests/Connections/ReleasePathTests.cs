// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using System.Net.WebSockets;
using Microsoft.Extensions.DependencyInjection;
using WebSocketPool.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace WebSocketPool.IntegrationTests.Connections;

/// <summary>A lease is released on every path out of a connection, and the counts return to 0 afterwards.</summary>
public sealed class ReleasePathTests(ITestOutputHelper output)
{
    private static readonly TimeSpan s_releaseDeadline = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task ClientCloseFrame_NormalClose_ReleasesLease()
    {
        await using var server = await StartAsync();
        using var client = await server.ConnectAsync("alice");
        server.Factory.GetConnectionCount("alice").Should().Be(1);

        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);

        await AssertReleasedAsync(server, "alice");
        Handler(server).DisconnectOf("alice")!.Reason.Should().Be(DisconnectReason.ClientClosed);
    }

    [Fact]
    public async Task AbruptTcpDrop_NoCloseFrame_ReleasesLease()
    {
        await using var server = await StartAsync();
        using var raw = await RawWebSocketClient.OpenAsync(server.BaseUri);
        (await raw.HandshakeAsync(server.BaseUri, "alice")).Should().Be(101);
        await Conditions.WaitAsync(() => server.Factory.OpenConnectionCount == 1, s_releaseDeadline, "the socket is accepted");
        server.Factory.GetConnectionCount("alice").Should().Be(1);

        raw.Reset();

        await AssertReleasedAsync(server, "alice");
        Handler(server).DisconnectOf("alice")!.Reason.Should().Be(DisconnectReason.Aborted);
    }

    [Fact]
    public async Task AbandonedHandshakes_ClientsResetRightAfterUpgradeRequest_EverySlotReturns()
    {
        const int Attempts = 200;
        await using var server = await StartAsync(o => o.MaxConnectionsPerUser = 5);

        // Each client sends the upgrade request and resets at once: depending on timing the server sees the reset
        // before, during or after the handshake. Whichever it is, the reserved slot must come back.
        await Task.WhenAll(Enumerable.Range(0, Attempts).Select(_ => RawWebSocketClient.SendUpgradeAndResetAsync(server.BaseUri, "alice")));

        await AssertReleasedAsync(server, "alice");
        using var after = await server.ConnectAsync("alice");
        server.Factory.GetConnectionCount("alice").Should().Be(1, "no slot leaked: the user can still connect");
        await after.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await AssertReleasedAsync(server, "alice");
    }

    [Fact]
    public async Task SilentPeer_NeverAnswersPings_ReleasedByKeepAliveTimeout()
    {
        await using var server = await StartAsync(o =>
        {
            o.KeepAliveInterval = TimeSpan.FromSeconds(1);
            o.KeepAliveTimeout = TimeSpan.FromSeconds(2);
        });

        // Upgrades, then never reads: the pings pile up unanswered while the TCP connection stays up.
        using var raw = await RawWebSocketClient.OpenAsync(server.BaseUri);
        (await raw.HandshakeAsync(server.BaseUri, "alice")).Should().Be(101);
        await Conditions.WaitAsync(() => server.Factory.OpenConnectionCount == 1, s_releaseDeadline, "the socket is accepted");

        // Interval + timeout + about a second of .NET's check period is 4 s; the deadline is generous on purpose.
        var took = await Conditions.WaitAsync(
            () => server.Factory.GetConnectionCount("alice") == 0 && server.Factory.ActiveConnections == 0,
            TimeSpan.FromSeconds(20),
            "a peer that never answers pings is aborted and released");
        output.WriteLine($"silent peer released {took.TotalMilliseconds:F0} ms after the upgrade (interval 1 s + timeout 2 s)");

        await AssertReleasedAsync(server, "alice");
        var disconnect = Handler(server).DisconnectOf("alice");
        output.WriteLine($"disconnect reason reported: {disconnect?.Reason} ({disconnect?.Exception?.GetType().Name})");
    }

    [Fact]
    public async Task HandlerException_OnMessage_ClosesWith1011AndReleases()
    {
        await using var server = await StartAsync();
        using var client = await server.ConnectAsync("alice");

        await client.SendTextAsync(CoreTestHandler.Boom);

        (await client.ReceiveCloseAsync()).Should().Be(WebSocketCloseCodes.InternalError);
        await AssertReleasedAsync(server, "alice");
        Handler(server).DisconnectOf("alice")!.Reason.Should().Be(DisconnectReason.HandlerError);

        // The server itself is unharmed: the same user connects and is served again.
        using var again = await server.ConnectAsync("alice");
        await again.SendTextAsync("still here");
        (await again.ReceiveTextAsync()).Should().Be("still here");
    }

    [Fact]
    public async Task HandlerException_AsyncFaultOnMessage_ClosesWith1011AndReleases()
    {
        await using var server = await StartAsync();
        using var client = await server.ConnectAsync("alice");

        await client.SendTextAsync(CoreTestHandler.AsyncBoom);

        (await client.ReceiveCloseAsync()).Should().Be(WebSocketCloseCodes.InternalError);
        await AssertReleasedAsync(server, "alice");
        Handler(server).DisconnectOf("alice")!.Reason.Should().Be(DisconnectReason.HandlerError);
    }

    [Fact]
    public async Task HandlerException_OnConnected_ClosesWith1011AndReleases()
    {
        await using var server = await StartAsync();
        using var client = await server.ConnectAsync(CoreTestHandler.ThrowOnConnectUser);

        (await client.ReceiveCloseAsync()).Should().Be(WebSocketCloseCodes.InternalError);
        await AssertReleasedAsync(server, CoreTestHandler.ThrowOnConnectUser);
        Handler(server).DisconnectOf(CoreTestHandler.ThrowOnConnectUser)!.Reason.Should().Be(DisconnectReason.HandlerError);
    }

    [Fact]
    public async Task OversizedMessage_OverMaxMessageBytes_ClosesWith1009AndReleases()
    {
        await using var server = await StartAsync(o => o.MaxMessageBytes = 4096);
        using var client = await server.ConnectAsync("alice");

        await client.SendAsync(new byte[5000], WebSocketMessageType.Binary, true, CancellationToken.None);

        (await client.ReceiveCloseAsync()).Should().Be(WebSocketCloseCodes.MessageTooBig);
        await AssertReleasedAsync(server, "alice");
        Handler(server).DisconnectOf("alice")!.Reason.Should().Be(DisconnectReason.MessageTooBig);
    }

    [Fact]
    public async Task MessageAtMaxMessageBytes_ExactlyTheLimit_IsDelivered()
    {
        await using var server = await StartAsync(o => o.MaxMessageBytes = 4096);
        using var client = await server.ConnectAsync("alice");

        await client.SendTextAsync(new string('x', 4096));

        (await client.ReceiveTextAsync()).Should().HaveLength(4096);
        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await AssertReleasedAsync(server, "alice");
    }

    [Fact]
    public async Task Shutdown_WithOpenSockets_EveryClientSees1001AndHostStopsInTime()
    {
        var shutdownTimeout = TimeSpan.FromSeconds(2);
        await using var server = await StartAsync(o => o.ShutdownTimeout = shutdownTimeout);
        var clients = new List<ClientWebSocket>();
        try
        {
            for (var i = 0; i < 5; i++)
            {
                clients.Add(await server.ConnectAsync("user" + (i % 2)));
            }

            var closes = clients.Select(c => c.ReceiveCloseAsync()).ToArray();
            server.Factory.ActiveConnections.Should().Be(5);

            var stopping = Stopwatch.StartNew();
            await server.App.StopAsync().WaitAsync(TimeSpan.FromSeconds(15));
            output.WriteLine($"StopAsync with 5 answering clients returned in {stopping.ElapsedMilliseconds} ms (ShutdownTimeout {shutdownTimeout.TotalSeconds} s)");

            (await Task.WhenAll(closes)).Should().AllBeEquivalentTo(WebSocketCloseCodes.GoingAway);
            server.Factory.ActiveConnections.Should().Be(0);
            server.Factory.OpenConnectionCount.Should().Be(0);
            server.Factory.GetConnectionCount("user0").Should().Be(0);
            server.Factory.GetConnectionCount("user1").Should().Be(0);
            Handler(server).Disconnected.Select(d => d.Disconnect.Reason).Should().HaveCount(5).And.AllBeEquivalentTo(DisconnectReason.Shutdown);
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task Shutdown_PeersNeverAnswerClose_AbortedAfterShutdownTimeoutAndHostStopsInTime()
    {
        var shutdownTimeout = TimeSpan.FromSeconds(1);
        await using var server = await StartAsync(o => o.ShutdownTimeout = shutdownTimeout);
        using var first = await RawWebSocketClient.ConnectAsync(server.BaseUri, "alice");
        using var second = await RawWebSocketClient.ConnectAsync(server.BaseUri, "bob");
        await Conditions.WaitAsync(() => server.Factory.OpenConnectionCount == 2, s_releaseDeadline, "both sockets are accepted");

        // The peers read what arrives but never answer the close frame.
        using var read = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var firstClose = first.ReadCloseCodeAsync(cancellationToken: read.Token);
        var secondClose = second.ReadCloseCodeAsync(cancellationToken: read.Token);

        var stopping = Stopwatch.StartNew();
        await server.App.StopAsync().WaitAsync(TimeSpan.FromSeconds(15));
        output.WriteLine($"StopAsync with 2 silent peers returned in {stopping.ElapsedMilliseconds} ms (ShutdownTimeout {shutdownTimeout.TotalSeconds} s)");

        // The close frame was sent even though nobody answered it.
        (await firstClose).Should().Be(WebSocketCloseCodes.GoingAway);
        (await secondClose).Should().Be(WebSocketCloseCodes.GoingAway);
        server.Factory.ActiveConnections.Should().Be(0);
        server.Factory.OpenConnectionCount.Should().Be(0);
        server.Factory.GetConnectionCount("alice").Should().Be(0);
        server.Factory.GetConnectionCount("bob").Should().Be(0);
    }

    [Fact]
    public async Task EvictOldest_AllSilent_OldestSees4001AndCountNeverExceedsLimit()
    {
        await using var server = await StartAsync(o =>
        {
            o.MaxConnectionsPerUser = 2;
            o.OverflowPolicy = OverflowPolicy.EvictOldest;
        });
        using var oldest = await server.ConnectAsync("alice");
        using var middle = await server.ConnectAsync("alice");
        ClientWebSocket newest;
        using (var sampler = new MaxSampler(() => server.Factory.GetConnectionCount("alice"), TimeSpan.FromSeconds(30)))
        {
            newest = await server.ConnectAsync("alice");
            (await oldest.ReceiveCloseAsync()).Should().Be(WebSocketCloseCodes.Evicted);
            sampler.Stop().Should().BeLessThanOrEqualTo(2, "the user's count never exceeds the limit, not even during the hand-over");
        }

        using (newest)
        {
            server.Factory.GetConnectionCount("alice").Should().Be(2);
            await middle.SendTextAsync("still open");
            (await middle.ReceiveTextAsync()).Should().Be("still open");
            await newest.SendTextAsync("me too");
            (await newest.ReceiveTextAsync()).Should().Be("me too");
            await Conditions.WaitAsync(() => Handler(server).DisconnectOf("alice") is not null, s_releaseDeadline, "the evicted connection ended");
            Handler(server).DisconnectOf("alice")!.Reason.Should().Be(DisconnectReason.Evicted);
            server.Factory.GetSnapshot(0).Evicted.Should().Be(1);

            await middle.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
            await newest.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        }

        await AssertReleasedAsync(server, "alice");
    }

    [Fact]
    public async Task EvictOldest_OlderConnectionSpokeRecently_EvictsTheOneSilentLongest()
    {
        await using var server = await StartAsync(o =>
        {
            o.MaxConnectionsPerUser = 2;
            o.OverflowPolicy = OverflowPolicy.EvictOldest;
        });
        using var older = await server.ConnectAsync("alice");
        using var silent = await server.ConnectAsync("alice");

        // The older connection speaks after the younger one connected: the younger one is now silent longest.
        await older.SendTextAsync("ping");
        (await older.ReceiveTextAsync()).Should().Be("ping");
        using var newest = await server.ConnectAsync("alice");

        (await silent.ReceiveCloseAsync()).Should().Be(WebSocketCloseCodes.Evicted);
        await older.SendTextAsync("still open");
        (await older.ReceiveTextAsync()).Should().Be("still open");
        server.Factory.GetConnectionCount("alice").Should().Be(2);

        await older.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await newest.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await AssertReleasedAsync(server, "alice");
    }

    [Fact]
    public async Task EvictOldest_BurstOfNewcomers_CountNeverExceedsLimitAndAllEndReleased()
    {
        const int Limit = 3;
        await using var server = await StartAsync(o =>
        {
            o.MaxConnectionsPerUser = Limit;
            o.OverflowPolicy = OverflowPolicy.EvictOldest;
        });
        var clients = new List<ClientWebSocket>();
        try
        {
            int max;
            using (var sampler = new MaxSampler(() => server.Factory.GetConnectionCount("alice"), TimeSpan.FromSeconds(60)))
            {
                // Sequential newcomers, each one evicting the silent-longest connection before it.
                for (var i = 0; i < 20; i++)
                {
                    clients.Add(await server.ConnectAsync("alice"));
                }

                max = sampler.Stop();
            }

            max.Should().BeLessThanOrEqualTo(Limit);
            server.Factory.GetConnectionCount("alice").Should().Be(Limit);
            var evicted = clients.Take(clients.Count - Limit).Select(c => c.ReceiveCloseAsync()).ToArray();
            (await Task.WhenAll(evicted)).Should().AllBeEquivalentTo(WebSocketCloseCodes.Evicted);
            foreach (var survivor in clients.Skip(clients.Count - Limit))
            {
                await survivor.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
            }

            await AssertReleasedAsync(server, "alice");
            server.Factory.GetSnapshot(0).Evicted.Should().Be(20 - Limit);
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
    }

    private static Task<PoolTestServer> StartAsync(Action<WebSocketPoolOptions>? configure = null) =>
        PoolTestServer.StartAsync(configure, pool: p => p.AddHandler<CoreTestHandler>());

    private static CoreTestHandler Handler(PoolTestServer server) => server.App.Services.GetRequiredService<CoreTestHandler>();

    private static async Task AssertReleasedAsync(PoolTestServer server, string user)
    {
        await Conditions.WaitAsync(
            () => server.Factory.GetConnectionCount(user) == 0 && server.Factory.ActiveConnections == 0 && server.Factory.OpenConnectionCount == 0,
            s_releaseDeadline,
            $"every lease of '{user}' is released");
        server.Factory.GetConnectionCount(user).Should().Be(0);
        server.Factory.ActiveConnections.Should().Be(0);
    }
}

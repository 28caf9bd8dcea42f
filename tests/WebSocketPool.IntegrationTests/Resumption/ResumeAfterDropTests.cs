// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;

namespace WebSocketPool.IntegrationTests.Resumption;

/// <summary>
/// A resumable connection whose TCP connection is cut (through a loopback proxy the test owns, so the server sees a drop
/// and no close frame) is held with its slot; the client reconnects with its token and last sequence and receives every
/// message, those sent while it was away included, exactly once and in order, on the same connection id, with
/// <see cref="WebSocketHandler.OnResumedAsync"/> and no <see cref="WebSocketHandler.OnDisconnectedAsync"/> for the drop.
/// A session not resumed in its window, one that overflowed, and a token presented by another user get 4004.
/// </summary>
public sealed class ResumeAfterDropTests
{
    private const string Offer = ResumeTestClient.Protocol + "+chat.v2";
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Resume_AfterACutMidStream_EveryMessageArrivesExactlyOnceInOrder()
    {
        const int Clients = 8;
        const int PerPhase = 150;
        var handler = new ResumeProbeHandler();
        await using var server = await StartAsync(handler);
        await using var proxy = new LoopbackTcpProxy(server.BaseUri);
        using var cts = new CancellationTokenSource(s_deadline);
        using var resumed = new MetricCollector<long>(server.App.Services.GetRequiredService<IMeterFactory>(), "WebSocketPool", "websocketpool.resume.resumed");
        using var held = new MetricCollector<long>(server.App.Services.GetRequiredService<IMeterFactory>(), "WebSocketPool", "websocketpool.resume.held_sessions");
        var clients = Enumerable.Range(0, Clients).Select(i => new ResumingClient(proxy, "user" + i, Offer)).ToArray();
        try
        {
            await Task.WhenAll(clients.Select(c => c.ConnectAsync(resume: false, cts.Token)));
            var ids = clients.Select(c => server.Factory.GetConnections(c.User).Single().ConnectionId).ToArray();
            var next = new int[Clients];

            async Task SendAsync(int count)
            {
                for (var n = 0; n < count; n++)
                {
                    for (var i = 0; i < Clients; i++)
                    {
                        next[i]++;
                        (await server.Sender.SendTextToConnectionAsync(ids[i], $"{clients[i].User} #{next[i]}", cts.Token)).Should().Be(SendResult.Queued);
                    }
                }
            }

            // Mid-stream: the first phase is still arriving when the connections are cut.
            var first = SendAsync(PerPhase);
            await Conditions.WaitAsync(() => clients.All(c => c.Count >= 20), s_deadline, "every client is receiving");
            proxy.CutAll().Should().Be(Clients);
            await first;
            await Task.WhenAll(clients.Select(c => c.EndedAsync()));

            // Meanwhile: sent while the clients are away, before and after the server notices the drop.
            await SendAsync(PerPhase);
            await Conditions.WaitAsync(() => ids.All(id => IsHeld(server, id)), s_deadline, "every dropped session is held");
            server.Factory.ActiveConnections.Should().Be(Clients, "a held session keeps its place");
            handler.Disconnected.Should().BeEmpty("a held session has not ended");

            await Task.WhenAll(clients.Select(c => c.ConnectAsync(resume: true, cts.Token)));
            await SendAsync(PerPhase);
            await Conditions.WaitAsync(() => clients.All(c => c.Count >= 3 * PerPhase || c.CloseStatus is not null), s_deadline, "every message arrives");

            foreach (var client in clients)
            {
                client.Violation.Should().BeNull();
                client.Received.Should().Equal(Enumerable.Range(1, 3 * PerPhase).Select(n => $"{client.User} #{n}"), "each message exactly once, in order");
                server.Factory.GetConnections(client.User).Single().ConnectionId.Should().Be(ids[Array.IndexOf(clients, client)], "the same connection goes on");
            }

            handler.Resumed.Should().BeEquivalentTo(ids);
            handler.Connected.Should().HaveCount(Clients, "a resume is not a new connection");
            handler.Disconnected.Should().BeEmpty();
            resumed.GetMeasurementSnapshot().EvaluateAsCounter().Should().Be(Clients);
            held.GetMeasurementSnapshot().Select(m => m.Value).Should().HaveCount(2 * Clients).And.Subject.Sum().Should().Be(0, "every held session was taken up again");
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }

    [Fact]
    public async Task Hold_WindowLapses_ReleasesTheSlotThroughOnDisconnectedAndResumeGets4004()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var handler = new ResumeProbeHandler();
        await using var server = await StartAsync(handler, services: s => s.AddSingleton<TimeProvider>(time));
        await using var proxy = new LoopbackTcpProxy(server.BaseUri);
        using var cts = new CancellationTokenSource(s_deadline);
        using var client = new ResumingClient(proxy, "alice", Offer);
        await client.ConnectAsync(resume: false, cts.Token);
        var id = server.Factory.GetConnections("alice").Single().ConnectionId;

        proxy.CutAll();
        await Conditions.WaitAsync(() => IsHeld(server, id), s_deadline, "the dropped session is held");
        server.Factory.GetConnectionCount("alice").Should().Be(1, "the held session's slot still counts");
        server.Factory.TryGetManager(id, out var manager, out _).Should().BeTrue();
        manager.HadSocket.Should().BeTrue("a held session's lease had a socket, and ends under the manager's lock as every such lease does");
        time.Advance(TimeSpan.FromSeconds(119));
        IsHeld(server, id).Should().BeTrue("the window is two minutes");

        time.Advance(TimeSpan.FromSeconds(2));

        await Conditions.WaitAsync(() => handler.Disconnected.ContainsKey(id), s_deadline, "the lapsed session ends with OnDisconnectedAsync");
        await Conditions.WaitAsync(() => server.Factory.ActiveConnections == 0 && server.Factory.GetConnectionCount("alice") == 0, s_deadline, "its slot is released");
        handler.Disconnected[id].Reason.Should().Be(DisconnectReason.Aborted, "the disconnect is the drop's");
        await client.ConnectAsync(resume: true, cts.Token);
        await client.EndedAsync();
        client.CloseStatus.Should().Be(4004);
        server.Factory.ActiveConnections.Should().Be(0, "a refused resume holds nothing");
    }

    [Fact]
    public async Task Hold_KeepAliveTimeout_IsHeldAndItsLapseReportsTheTimeout()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var handler = new ResumeProbeHandler();
        await using var server = await StartAsync(
            handler,
            o =>
            {
                o.KeepAliveInterval = TimeSpan.FromMilliseconds(200);
                o.KeepAliveTimeout = TimeSpan.FromSeconds(1);
            },
            s => s.AddSingleton<TimeProvider>(time));
        await using var proxy = new LoopbackTcpProxy(server.BaseUri);
        using var cts = new CancellationTokenSource(s_deadline);
        using var client = new ResumingClient(proxy, "sleeper", Offer);
        await client.ConnectAsync(resume: false, cts.Token);
        var id = server.Factory.GetConnections("sleeper").Single().ConnectionId;

        // The peer goes silent without a reset: only the keep-alive can tell.
        proxy.FreezeAll();

        await Conditions.WaitAsync(() => IsHeld(server, id), s_deadline, "a keep-alive timeout holds the session");
        handler.Disconnected.Should().BeEmpty();
        time.Advance(TimeSpan.FromMinutes(2) + TimeSpan.FromSeconds(1));
        await Conditions.WaitAsync(() => handler.Disconnected.ContainsKey(id), s_deadline, "the lapse ends it");
        handler.Disconnected[id].Reason.Should().Be(DisconnectReason.KeepAliveTimeout, "the disconnect is the original end's");
        proxy.CutAll();
    }

    [Fact]
    public async Task Resume_TokenOfAnotherUser_IsRefusedWith4004AndTheSessionStaysForItsOwner()
    {
        var handler = new ResumeProbeHandler();
        await using var server = await StartAsync(handler);
        await using var proxy = new LoopbackTcpProxy(server.BaseUri);
        using var cts = new CancellationTokenSource(s_deadline);
        using var client = new ResumingClient(proxy, "alice", Offer);
        await client.ConnectAsync(resume: false, cts.Token);
        var id = server.Factory.GetConnections("alice").Single().ConnectionId;
        proxy.CutAll();
        await Conditions.WaitAsync(() => IsHeld(server, id), s_deadline, "the dropped session is held");

        await client.ConnectAsync(resume: true, cts.Token, asUser: "mallory");
        await client.EndedAsync();

        client.CloseStatus.Should().Be(4004, "the token is bound to the user it was issued to");
        server.Factory.GetConnectionCount("mallory").Should().Be(0);
        IsHeld(server, id).Should().BeTrue("a refused attempt does not cost the owner its session");
        await client.ConnectAsync(resume: true, cts.Token);
        await Conditions.WaitAsync(() => handler.Resumed.Contains(id), s_deadline, "the owner resumes");
    }

    [Fact]
    public async Task Hold_OverflowsWhileAway_EndsTheSessionAndTheNextAttemptGets4004()
    {
        var handler = new ResumeProbeHandler();
        await using var server = await StartAsync(handler, o => o.Resume.BufferBytes = 1024);
        await using var proxy = new LoopbackTcpProxy(server.BaseUri);
        using var cts = new CancellationTokenSource(s_deadline);
        using var client = new ResumingClient(proxy, "alice", Offer);
        await client.ConnectAsync(resume: false, cts.Token);
        var id = server.Factory.GetConnections("alice").Single().ConnectionId;
        proxy.CutAll();
        await Conditions.WaitAsync(() => IsHeld(server, id), s_deadline, "the dropped session is held");

        for (var i = 0; i < 20; i++)
        {
            await server.Sender.SendTextToConnectionAsync(id, new string('x', 100), cts.Token);
        }

        await Conditions.WaitAsync(() => handler.Disconnected.ContainsKey(id), s_deadline, "an overflowed held session ends");
        await Conditions.WaitAsync(() => server.Factory.GetConnectionCount("alice") == 0, s_deadline, "its slot is released");
        await client.ConnectAsync(resume: true, cts.Token);
        await client.EndedAsync();
        client.CloseStatus.Should().Be(4004);
    }

    [Fact]
    public async Task Hold_DropOldestWhileAway_KeepsTheSessionAndReplaysTheNewest()
    {
        // 20 messages of 100 B while away, through a queue of 4 that drops its oldest: what is kept (4 × 100 B) fits the
        // 1 KiB buffer, so the session stays resumable however many were dropped.
        var handler = new ResumeProbeHandler();
        await using var server = await StartAsync(handler, o =>
        {
            o.Resume.BufferBytes = 1024;
            o.SendQueueCapacity = 4;
            o.SlowConsumerPolicy = SlowConsumerPolicy.DropOldest;
        });
        await using var proxy = new LoopbackTcpProxy(server.BaseUri);
        using var cts = new CancellationTokenSource(s_deadline);
        using var client = new ResumingClient(proxy, "alice", Offer);
        await client.ConnectAsync(resume: false, cts.Token);
        var id = server.Factory.GetConnections("alice").Single().ConnectionId;
        proxy.CutAll();
        await Conditions.WaitAsync(() => IsHeld(server, id), s_deadline, "the dropped session is held");

        for (var i = 0; i < 20; i++)
        {
            await server.Sender.SendTextToConnectionAsync(id, i.ToString("D2", CultureInfo.InvariantCulture) + new string('x', 98), cts.Token);
        }

        IsHeld(server, id).Should().BeTrue("dropped messages no longer count against the buffer");
        await client.ConnectAsync(resume: true, cts.Token);
        await Conditions.WaitAsync(() => handler.Resumed.Contains(id), s_deadline, "the session is resumed");
        await Conditions.WaitAsync(() => client.Received.Count == 4, s_deadline, "the four newest are replayed");
        client.Received.Select(m => m[..2]).Should().Equal("16", "17", "18", "19");
    }

    [Fact]
    public async Task Resume_UserAtTheLimit_ResumesWhereAFreshConnectionIsRefused()
    {
        var handler = new ResumeProbeHandler();
        await using var server = await StartAsync(handler, o => o.MaxConnectionsPerUser = 1);
        await using var proxy = new LoopbackTcpProxy(server.BaseUri);
        using var cts = new CancellationTokenSource(s_deadline);
        using var client = new ResumingClient(proxy, "alice", Offer);
        await client.ConnectAsync(resume: false, cts.Token);
        var id = server.Factory.GetConnections("alice").Single().ConnectionId;
        proxy.CutAll();
        await Conditions.WaitAsync(() => IsHeld(server, id), s_deadline, "the dropped session is held");

        var fresh = async () => (await server.ConnectAsync("alice", "/ws", cts.Token)).Dispose();
        (await fresh.Should().ThrowAsync<System.Net.WebSockets.WebSocketException>()).WithMessage("*429*", "the held session still counts against the limit");
        (await server.Sender.SendTextToUserAsync("alice", "while away", cts.Token)).Should().Be(1, "a held session is the user's connection");
        server.Factory.GetConnections("alice").Select(c => c.ConnectionId).Should().Equal([id], "and is listed as such");

        await client.ConnectAsync(resume: true, cts.Token);
        await Conditions.WaitAsync(() => handler.Resumed.Contains(id), s_deadline, "the held session is resumed, at the limit");
        server.Factory.GetConnectionCount("alice").Should().Be(1, "resuming never over-admits");
        (await server.Sender.SendTextToConnectionAsync(id, "after", cts.Token)).Should().Be(SendResult.Queued);
        await Conditions.WaitAsync(() => client.Received.Contains("after"), s_deadline, "live traffic goes on");
        client.Received.Should().Equal("while away", "after");
    }

    [Fact]
    public async Task Resume_BeyondTheConnectRate_IsRefused429AndTheSessionStaysHeld()
    {
        // One connect token, refilled once an hour: the first connection spends it.
        var handler = new ResumeProbeHandler();
        await using var server = await StartAsync(handler, o => (o.ConnectRateLimit, o.ConnectRateBurst) = (1.0 / 3600, 1));
        await using var proxy = new LoopbackTcpProxy(server.BaseUri);
        using var cts = new CancellationTokenSource(s_deadline);
        using var client = new ResumingClient(proxy, "alice", Offer);
        await client.ConnectAsync(resume: false, cts.Token);
        var id = server.Factory.GetConnections("alice").Single().ConnectionId;
        proxy.CutAll();
        await Conditions.WaitAsync(() => IsHeld(server, id), s_deadline, "the dropped session is held");

        var resume = () => client.ConnectAsync(resume: true, cts.Token);

        (await resume.Should().ThrowAsync<System.Net.WebSockets.WebSocketException>()).WithMessage("*429*", "a resume spends a connect token like any attempt");
        server.Factory.GetSnapshot().Rejected["rate_limited"].Should().Be(1);
        IsHeld(server, id).Should().BeTrue("a rate-limited attempt leaves the session held for a later one");
        handler.Resumed.Should().BeEmpty();
        server.Factory.GetConnectionCount("alice").Should().Be(1);
    }

    [Fact]
    public async Task Resume_OldSocketStillOpenOnTheServer_IsTakenOverAndNothingIsLost()
    {
        const int Messages = 200;
        var handler = new ResumeProbeHandler();
        await using var server = await StartAsync(handler);
        await using var proxy = new LoopbackTcpProxy(server.BaseUri);
        using var cts = new CancellationTokenSource(s_deadline);
        using var client = new ResumingClient(proxy, "alice", Offer);
        await client.ConnectAsync(resume: false, cts.Token);
        var id = server.Factory.GetConnections("alice").Single().ConnectionId;
        for (var i = 1; i <= Messages; i++)
        {
            await server.Sender.SendTextToConnectionAsync(id, "m" + i, cts.Token);
        }

        await Conditions.WaitAsync(() => client.Count == Messages, s_deadline, "the first socket received everything");

        // The client knows its socket is dead before the server does: it resumes while the old one looks open here.
        await client.ConnectAsync(resume: true, cts.Token, keepOld: true);
        await client.Previous!;
        for (var i = Messages + 1; i <= 2 * Messages; i++)
        {
            await server.Sender.SendTextToConnectionAsync(id, "m" + i, cts.Token);
        }

        await Conditions.WaitAsync(() => client.Count >= 2 * Messages, s_deadline, "the resumed socket receives the rest");
        client.Violation.Should().BeNull();
        client.Received.Should().Equal(Enumerable.Range(1, 2 * Messages).Select(i => "m" + i));
        handler.Resumed.Should().Equal(id);
        handler.Disconnected.Should().BeEmpty();
        server.Factory.GetConnectionCount("alice").Should().Be(1);
    }

    [Fact]
    public async Task Resume_OldRunDoesNotEndInTime_RefusedWith4004AndTheSessionIsNotHeldAfterwards()
    {
        // The old connection's handler ignores cancellation, so its run outlives the take-over's wait (SendTimeout).
        var handler = new ResumeProbeHandler();
        await using var server = await StartAsync(handler, o => o.SendTimeout = TimeSpan.FromSeconds(1));
        await using var proxy = new LoopbackTcpProxy(server.BaseUri);
        using var cts = new CancellationTokenSource(s_deadline);
        using var client = new ResumingClient(proxy, "alice", Offer);
        handler.BlockConnected();
        await client.ConnectAsync(resume: false, cts.Token);
        var id = server.Factory.GetConnections("alice").Single().ConnectionId;

        await client.ConnectAsync(resume: true, cts.Token, keepOld: true);
        await client.EndedAsync();
        client.CloseStatus.Should().Be(4004, "the session could not be taken over in time");

        // The client was told to start afresh: when the old run ends at last, its session is not held for a resume
        // that will never come, and its slot is released at once (not at the end of the window).
        handler.ReleaseConnected();
        await Conditions.WaitAsync(() => handler.Disconnected.ContainsKey(id), s_deadline, "the old session ends with OnDisconnectedAsync");
        await Conditions.WaitAsync(() => server.Factory.ActiveConnections == 0 && server.Factory.GetConnectionCount("alice") == 0, s_deadline, "its slot is released");
        IsHeld(server, id).Should().BeFalse();
        handler.Resumed.Should().BeEmpty();
    }

    [Fact]
    public async Task Hold_OnlyADropOfAResumableConnection_IsHeldAndAKickEndsAHeldSession()
    {
        var handler = new ResumeProbeHandler();
        await using var server = await StartAsync(handler);
        await using var proxy = new LoopbackTcpProxy(server.BaseUri);
        using var cts = new CancellationTokenSource(s_deadline);

        // A close frame is an end, not a drop.
        using (var closing = new ResumingClient(proxy, "closer", Offer))
        {
            await closing.ConnectAsync(resume: false, cts.Token);
            var closingId = server.Factory.GetConnections("closer").Single().ConnectionId;
            server.Factory.DisconnectConnection(closingId, 1000, "bye").Should().BeTrue();
            await Conditions.WaitAsync(() => handler.Disconnected.ContainsKey(closingId), s_deadline, "a closed connection ends at once");
        }

        // A plain client of the same pool is not held when it drops.
        using var plain = new System.Net.WebSockets.ClientWebSocket();
        plain.Options.AddSubProtocol("chat.v2");
        await plain.ConnectAsync(proxy.WebSocketUri("user=plain"), cts.Token);
        var plainId = server.Factory.GetConnections("plain").Single().ConnectionId;
        proxy.CutAll();
        await Conditions.WaitAsync(() => handler.Disconnected.ContainsKey(plainId), s_deadline, "a plain connection's drop ends it at once");

        // A held session that is kicked ends now, through the release path.
        using var client = new ResumingClient(proxy, "alice", Offer);
        await client.ConnectAsync(resume: false, cts.Token);
        var id = server.Factory.GetConnections("alice").Single().ConnectionId;
        proxy.CutAll();
        await Conditions.WaitAsync(() => IsHeld(server, id), s_deadline, "the dropped session is held");
        server.Factory.DisconnectUser("alice").Should().Be(1);
        await Conditions.WaitAsync(() => handler.Disconnected.ContainsKey(id), s_deadline, "a kicked held session ends");
        await Conditions.WaitAsync(() => server.Factory.ActiveConnections == 0, s_deadline, "every place is released");
        await client.ConnectAsync(resume: true, cts.Token);
        await client.EndedAsync();
        client.CloseStatus.Should().Be(4004);
    }

    private static bool IsHeld(PoolTestServer server, string connectionId) =>
        server.Factory.TryGetManager(connectionId, out var manager, out _) && manager.IsHeld;

    private static Task<PoolTestServer> StartAsync(
        ResumeProbeHandler handler, Action<WebSocketPoolOptions>? configure = null, Action<IServiceCollection>? services = null) => PoolTestServer.StartAsync(
        o =>
        {
            o.SubProtocols.Add("chat.v2");
            o.Resume.Enabled = true;
            o.SendQueueCapacity = 1024;
            configure?.Invoke(o);
        },
        pool: p =>
        {
            p.Services.AddSingleton(handler);
            p.AddHandler<ResumeProbeHandler>();
        },
        services: services);

    private sealed class ResumeProbeHandler : WebSocketHandler
    {
        public ConcurrentBag<string> Connected { get; } = [];

        public ConcurrentBag<string> Resumed { get; } = [];

        public ConcurrentDictionary<string, WebSocketDisconnect> Disconnected { get; } = new(StringComparer.Ordinal);

        private TaskCompletionSource? _connectedGate;

        public void BlockConnected() => _connectedGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        public void ReleaseConnected() => _connectedGate?.TrySetResult();

        public override async ValueTask OnConnectedAsync(WebSocketConnection connection, CancellationToken cancellationToken)
        {
            Connected.Add(connection.ConnectionId);
            if (_connectedGate is { } gate)
            {
                // Deliberately deaf to cancellation: a handler still busy when its socket is gone.
                await gate.Task.ConfigureAwait(false);
            }
        }

        public override ValueTask OnResumedAsync(WebSocketConnection connection, CancellationToken cancellationToken)
        {
            Resumed.Add(connection.ConnectionId);
            return default;
        }

        public override ValueTask OnDisconnectedAsync(WebSocketConnection connection, WebSocketDisconnect disconnect)
        {
            Disconnected[connection.ConnectionId] = disconnect;
            return default;
        }
    }
}

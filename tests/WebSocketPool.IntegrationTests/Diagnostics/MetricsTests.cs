// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net.WebSockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using WebSocketPool.IntegrationTests.Messaging;

namespace WebSocketPool.IntegrationTests.Diagnostics;

public sealed class MetricsTests
{
    private const string Meter = "WebSocketPool";
    private const string ReasonTag = "websocketpool.rejection.reason";
    private const string DisconnectReasonTag = "websocketpool.disconnect.reason";
    private const string PoolTag = "websocketpool.pool";
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Instruments_OneEchoConnection_RecordActiveDurationMessagesAndBytes()
    {
        // Arrange
        await using var server = await PoolTestServer.StartAsync(pool: p => p.AddHandler<RecordingHandler>());
        var meters = server.App.Services.GetRequiredService<IMeterFactory>();
        using var active = new MetricCollector<int>(meters, Meter, "websocketpool.active_connections");
        using var duration = new MetricCollector<double>(meters, Meter, "websocketpool.connection.duration");
        using var messagesIn = new MetricCollector<long>(meters, Meter, "websocketpool.messages.received");
        using var messagesOut = new MetricCollector<long>(meters, Meter, "websocketpool.messages.sent");
        using var bytesIn = new MetricCollector<long>(meters, Meter, "websocketpool.bytes.received");
        using var bytesOut = new MetricCollector<long>(meters, Meter, "websocketpool.bytes.sent");

        // Act
        using var client = await server.ConnectAsync("alice");
        await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == 1, s_deadline, "the connection is open");
        active.RecordObservableInstruments();
        var whileOpen = active.LastMeasurement!.Value;
        await client.SendTextAsync("hello");
        (await client.ReceiveTextAsync()).Should().Be("hello");
        await client.SendAsync(new byte[1000], WebSocketMessageType.Binary, true, CancellationToken.None);
        (await client.ReceiveMessageAsync()).Payload.Length.Should().Be(1000);
        await PoolTestServer.WaitUntilAsync(() => Sum(messagesOut) == 2, s_deadline, "the sent messages are counted once written");
        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await PoolTestServer.WaitUntilAsync(() => server.Factory.ActiveConnections == 0, s_deadline, "the lease is released");
        await duration.WaitForMeasurementsAsync(1, s_deadline);
        active.RecordObservableInstruments();

        // Assert
        whileOpen.Should().Be(1);
        active.LastMeasurement!.Value.Should().Be(0);
        Sum(messagesIn).Should().Be(2);
        Sum(bytesIn).Should().Be(1005);
        Sum(messagesOut).Should().Be(2);
        Sum(bytesOut).Should().Be(1005);
        var ended = duration.GetMeasurementSnapshot().Should().ContainSingle().Subject;
        ended.Value.Should().BeGreaterThanOrEqualTo(0);
        ended.Tags.Should().ContainKey(DisconnectReasonTag).WhoseValue.Should().Be("client_closed");
        duration.Instrument!.Unit.Should().Be("s");
        active.Instrument!.Unit.Should().Be("{connection}");
        bytesIn.Instrument!.Unit.Should().Be("By");
    }

    [Fact]
    public async Task RejectedConnections_EveryReason_TaggedWithTheStatsKeys()
    {
        // Arrange: one slot per user, two on the node, and a connect budget of two attempts per user.
        await using var server = await PoolTestServer.StartAsync(o =>
        {
            o.MaxConnectionsPerUser = 1;
            o.MaxConnections = 2;
            o.ConnectRateLimit = 0.001;
            o.ConnectRateBurst = 2;
        });
        using var rejected = new MetricCollector<long>(server.App.Services.GetRequiredService<IMeterFactory>(), Meter, "websocketpool.rejected_connections");
        using var u = await server.ConnectAsync("u");

        // Act: one refusal of each kind, through real upgrade attempts.
        await RefusedAsync(server, "u");                                     // user_limit (second token)
        await RefusedAsync(server, "u");                                     // rate_limited (no token left)
        using var v = await server.ConnectAsync("v");
        await RefusedAsync(server, "w");                                     // global_limit
        await RefusedAsync(server, "x", origin: "http://evil.example");      // origin
        await RefusedAsync(server, user: null);                              // unauthenticated
        await RefusedAsync(server, "x", subProtocol: "mqtt");                // subprotocol (the pool speaks none)
        server.Factory.BeginDrain();
        await RefusedAsync(server, "y");                                     // draining

        // Assert
        string[] expected = ["user_limit", "global_limit", "draining", "origin", "unauthenticated", "rate_limited", "subprotocol"];
        var measurements = rejected.GetMeasurementSnapshot();
        measurements.Should().OnlyContain(m => m.Value == 1 && m.Tags.Count == 2 && m.Tags.ContainsKey(ReasonTag) && (string)m.Tags[PoolTag]! == "default");
        measurements.Select(m => (string)m.Tags[ReasonTag]!).Should().BeEquivalentTo(expected);
        rejected.Instrument!.Unit.Should().Be("{connection}");

        var snapshot = server.Factory.GetSnapshot();
        snapshot.Rejected.Keys.Should().BeEquivalentTo([.. expected, "ip_rate_limited", "ip_limit"],
            "on a single node the snapshot's keys are exactly the metric's nine local reason tags");
        expected.Should().BeSubsetOf(RejectionReasons.All);
        expected.Select(k => snapshot.Rejected[k]).Should().AllBeEquivalentTo(1L);
        snapshot.Rejected["ip_limit"].Should().Be(0, "no per-IP limit is on");
    }

    [Fact]
    public async Task RejectedConnections_PerIPReasons_TaggedWithTheStatsKeys()
    {
        // Arrange: one connection per client address, and two attempts per address in all.
        await using var server = await PoolTestServer.StartAsync(o =>
        {
            o.MaxConnectionsPerIP = 1;
            o.ConnectRateLimitPerIP = 0.001;
            o.ConnectRateBurstPerIP = 2;
        });
        using var rejected = new MetricCollector<long>(server.App.Services.GetRequiredService<IMeterFactory>(), Meter, "websocketpool.rejected_connections");
        using var a = await server.ConnectAsync("a");

        // Act
        await RefusedAsync(server, "b");                                     // ip_limit (second token)
        await RefusedAsync(server, "c");                                     // ip_rate_limited (no token left)

        // Assert
        string[] expected = ["ip_limit", "ip_rate_limited"];
        rejected.GetMeasurementSnapshot().Select(m => (string)m.Tags[ReasonTag]!).Should().BeEquivalentTo(expected);
        expected.Should().BeSubsetOf(RejectionReasons.All);
        var snapshot = server.Factory.GetSnapshot();
        expected.Select(k => snapshot.Rejected[k]).Should().AllBeEquivalentTo(1L);
        snapshot.Rejected.Where(kv => !expected.Contains(kv.Key)).Should().OnlyContain(kv => kv.Value == 0);
    }

    [Fact]
    public async Task EvictedAndKickedConnections_AreCounted()
    {
        await using var server = await PoolTestServer.StartAsync(o =>
        {
            o.MaxConnectionsPerUser = 1;
            o.OverflowPolicy = OverflowPolicy.EvictOldest;
        });
        var meters = server.App.Services.GetRequiredService<IMeterFactory>();
        using var evicted = new MetricCollector<long>(meters, Meter, "websocketpool.evicted_connections");
        using var kicked = new MetricCollector<long>(meters, Meter, "websocketpool.kicked_connections");
        using var first = await server.ConnectAsync("e");
        await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == 1, s_deadline, "the first connection is open");

        using var second = await server.ConnectAsync("e");
        (await first.ReceiveCloseAsync()).CloseStatus.Should().Be(WebSocketCloseCodes.Evicted);
        await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == 1 && server.Factory.GetConnections("e").Count == 1, s_deadline, "the newcomer replaced the first");
        server.Factory.DisconnectUser("e").Should().Be(1);
        (await second.ReceiveCloseAsync()).CloseStatus.Should().Be(WebSocketCloseCodes.Kicked);

        Sum(evicted).Should().Be(1);
        Sum(kicked).Should().Be(1);
        server.Factory.GetSnapshot().Evicted.Should().Be(1);
    }

    [Fact]
    public async Task WarmAndPooledManagers_FollowTheReuseWindow()
    {
        // A long reuse window: freed managers stay warm for their user.
        await using (var warm = await PoolTestServer.StartAsync(o => o.ReuseWindow = TimeSpan.FromMinutes(5)))
        {
            var meters = warm.App.Services.GetRequiredService<IMeterFactory>();
            using var warmManagers = new MetricCollector<int>(meters, Meter, "websocketpool.warm_managers");
            await ConnectAndCloseAsync(warm, "w", 2);
            warmManagers.RecordObservableInstruments();
            warmManagers.LastMeasurement!.Value.Should().Be(2);
            warm.Factory.GetSnapshot().WarmManagers.Should().Be(2);
        }

        // No reuse window: freed managers go straight back to the shared pool.
        await using var pooled = await PoolTestServer.StartAsync(o => o.ReuseWindow = TimeSpan.Zero);
        using var pooledManagers = new MetricCollector<int>(pooled.App.Services.GetRequiredService<IMeterFactory>(), Meter, "websocketpool.pooled_managers");
        await ConnectAndCloseAsync(pooled, "p", 2);
        pooledManagers.RecordObservableInstruments();
        pooledManagers.LastMeasurement!.Value.Should().Be(2);
        pooled.Factory.GetSnapshot().PooledManagers.Should().Be(2);
    }

    [Fact]
    public async Task UsersNearLimit_RisesAndFallsWithTheThreshold()
    {
        await using var server = await PoolTestServer.StartAsync(o => o.MaxConnectionsPerUser = 4);
        using var near = new MetricCollector<int>(server.App.Services.GetRequiredService<IMeterFactory>(), Meter, "websocketpool.users_near_limit");
        int Observe()
        {
            near.RecordObservableInstruments();
            return near.LastMeasurement!.Value;
        }

        using var a1 = await server.ConnectAsync("a");
        Observe().Should().Be(0, "1 of 4 is below the 50 % threshold");
        using var a2 = await server.ConnectAsync("a");
        Observe().Should().Be(1);
        using var b1 = await server.ConnectAsync("b");
        using var b2 = await server.ConnectAsync("b");
        Observe().Should().Be(2);
        await a2.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await PoolTestServer.WaitUntilAsync(() => server.Factory.GetConnectionCount("a") == 1, s_deadline, "a's second connection is released");
        Observe().Should().Be(1);
    }

    [Fact]
    public async Task Instruments_AllActivity_CarryNoUserTag()
    {
        // Arrange: listen to every instrument of this app's meter, and make every one of them record.
        const string User = "secret-user-4711";
        await using var server = await PoolTestServer.StartAsync(
            o =>
            {
                o.MaxConnectionsPerUser = 2;
                o.OverflowPolicy = OverflowPolicy.EvictOldest;
                o.SendQueueCapacity = 2;
                o.SlowConsumerPolicy = SlowConsumerPolicy.DropOldest;
                o.ReuseWindow = TimeSpan.Zero;
            },
            pool: p => p.AddHandler<RecordingHandler>());
        var meters = server.App.Services.GetRequiredService<IMeterFactory>();
        var instruments = new ConcurrentDictionary<string, Instrument>(StringComparer.Ordinal);
        var tags = new ConcurrentBag<KeyValuePair<string, object?>>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == Meter && ReferenceEquals(instrument.Meter.Scope, meters))
                {
                    instruments[instrument.Name] = instrument;
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, _, t, _) => Collect(t));
        listener.SetMeasurementEventCallback<int>((_, _, t, _) => Collect(t));
        listener.SetMeasurementEventCallback<double>((_, _, t, _) => Collect(t));
        listener.Start();

        void Collect(ReadOnlySpan<KeyValuePair<string, object?>> measurementTags)
        {
            foreach (var tag in measurementTags)
            {
                tags.Add(tag);
            }
        }

        // Act: messages, eviction, kick, drops, rejections, ends.
        using var c1 = await server.ConnectAsync(User);
        await c1.SendTextAsync("payload");
        (await c1.ReceiveTextAsync()).Should().Be("payload");
        using var c2 = await server.ConnectAsync(User);
        using var c3 = await server.ConnectAsync(User);
        (await c1.ReceiveCloseAsync()).CloseStatus.Should().Be(WebSocketCloseCodes.Evicted);
        await RefusedAsync(server, User, origin: "http://evil.example");
        await PoolTestServer.WaitUntilAsync(() => server.Factory.GetConnections(User).Count == 2, s_deadline, "two connections are open");
        var id = server.Factory.GetConnections(User)[0].ConnectionId;
        for (var i = 0; i < 50; i++)
        {
            await server.Sender.SendTextToConnectionAsync(id, "burst");
        }

        server.Factory.DisconnectUser(User).Should().Be(2);
        (await c2.ReceiveCloseAsync()).CloseStatus.Should().Be(WebSocketCloseCodes.Kicked);
        (await c3.ReceiveCloseAsync()).CloseStatus.Should().Be(WebSocketCloseCodes.Kicked);
        await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == 0, s_deadline, "every connection ended");
        listener.RecordObservableInstruments();

        // Assert
        instruments.Keys.Should().Contain(
        [
            "websocketpool.active_connections", "websocketpool.connection.duration", "websocketpool.rejected_connections",
            "websocketpool.evicted_connections", "websocketpool.kicked_connections", "websocketpool.messages.received",
            "websocketpool.messages.sent", "websocketpool.bytes.received", "websocketpool.bytes.sent", "websocketpool.send_queue.dropped",
            "websocketpool.slow_consumer_disconnects", "websocketpool.send_timeouts", "websocketpool.oversized_messages",
            "websocketpool.audit.mismatches", "websocketpool.pooled_managers", "websocketpool.warm_managers", "websocketpool.users_near_limit",
        ]);
        instruments.Keys.Should().OnlyContain(n => n.StartsWith("websocketpool.", StringComparison.Ordinal));
        tags.Should().NotBeEmpty();
        tags.Select(t => t.Key).Distinct().Should().BeSubsetOf([ReasonTag, DisconnectReasonTag, PoolTag], "tags come from small fixed sets");
        tags.Should().NotContain(t => (t.Value as string ?? string.Empty).Contains("secret", StringComparison.Ordinal), "no tag names a user");
    }

    internal static long Sum(MetricCollector<long> collector) => collector.GetMeasurementSnapshot().Sum(m => m.Value);

    internal static async Task RefusedAsync(PoolTestServer server, string? user, string? origin = null, string? subProtocol = null)
    {
        using var client = new ClientWebSocket();
        if (origin is not null)
        {
            client.Options.SetRequestHeader("Origin", origin);
        }

        if (subProtocol is not null)
        {
            client.Options.AddSubProtocol(subProtocol);
        }

        var uri = user is null ? new UriBuilder(server.BaseUri) { Scheme = "ws", Path = "/ws" }.Uri : server.WebSocketUri(user);
        var act = () => client.ConnectAsync(uri, CancellationToken.None);
        await act.Should().ThrowAsync<WebSocketException>("the upgrade is refused before it happens");
    }

    private static async Task ConnectAndCloseAsync(PoolTestServer server, string user, int count)
    {
        var clients = new List<ClientWebSocket>();
        for (var i = 0; i < count; i++)
        {
            clients.Add(await server.ConnectAsync(user));
        }

        await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == count, s_deadline, "every connection is open");
        foreach (var client in clients)
        {
            await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
            client.Dispose();
        }

        // Slots are free the instant the sockets end; the leases end (managers warm or pooled) once OnDisconnectedAsync returned.
        await PoolTestServer.WaitUntilAsync(
            () => server.Factory.OpenConnectionCount == 0 && server.Factory.ActiveConnections == 0
                && server.Factory.GetSnapshot() is var s && s.WarmManagers + s.PooledManagers == count,
            s_deadline,
            "every lease is released and has ended");
    }
}

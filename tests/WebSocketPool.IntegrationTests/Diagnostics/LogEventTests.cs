// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using System.Net.WebSockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using WebSocketPool.Internal;
using WebSocketPool.IntegrationTests.Messaging;

namespace WebSocketPool.IntegrationTests.Diagnostics;

public sealed class LogEventTests
{
    private const string User = "secret-user-4711";
    private const string Payload = "PAYLOAD-SECRET-0815";
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Log_RejectionEvictionKick_EventsByIdAndNameWithoutUserOrPayload()
    {
        // Arrange
        await using var server = await StartAsync(o =>
        {
            o.MaxConnectionsPerUser = 1;
            o.MaxConnections = 2;
            o.OverflowPolicy = OverflowPolicy.EvictOldest;
        });
        var logs = server.App.Services.GetFakeLogCollector();

        // Act
        using var first = await server.ConnectAsync(User);
        await first.SendTextAsync(Payload);
        (await first.ReceiveTextAsync()).Should().Be(Payload);
        await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == 1, s_deadline, "the first connection is open");
        using var second = await server.ConnectAsync(User);
        (await first.ReceiveCloseAsync()).CloseStatus.Should().Be(WebSocketCloseCodes.Evicted);
        using var other = await server.ConnectAsync("other");
        await MetricsTests.RefusedAsync(server, "third");
        await MetricsTests.RefusedAsync(server, user: null);
        await PoolTestServer.WaitUntilAsync(() => server.Factory.GetConnections(User).Count == 1, s_deadline, "the evicted connection ended");
        server.Factory.DisconnectUser(User).Should().Be(1);
        (await second.ReceiveCloseAsync()).CloseStatus.Should().Be(WebSocketCloseCodes.Kicked);

        // Assert
        var records = PoolRecords(logs);
        Single(records, 1, "ConnectionRejected").Level.Should().Be(LogLevel.Information);
        Single(records, 1, "ConnectionRejected").Message.Should().Contain("global_limit");
        Single(records, 101, "RequestRefused").Message.Should().Contain("unauthenticated");
        Single(records, 4, "ConnectionEvicted");
        Single(records, 5, "ConnectionKicked").Message.Should().Contain("4003");
        NoSecrets(logs);
    }

    [Fact]
    public async Task Log_SlowConsumerAndKeepAliveTimeout_Logged()
    {
        // Arrange: pings every second, aborted after a second unanswered; a small queue.
        await using var server = await StartAsync(o =>
        {
            o.KeepAliveInterval = TimeSpan.FromSeconds(1);
            o.KeepAliveTimeout = TimeSpan.FromSeconds(1);
            o.SendQueueCapacity = 8;
            o.SendTimeout = TimeSpan.FromSeconds(1);
        });
        var logs = server.App.Services.GetFakeLogCollector();
        using var slow = await RawWebSocketClient.ConnectWebSocketAsync(server.BaseUri, User);
        await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == 1, s_deadline, "the slow connection is open");
        var id = server.Factory.GetConnections(User).Single().ConnectionId;

        // Act: a peer that never reads overflows its queue...
        var outcome = SendResult.Queued;
        var big = new byte[64 * 1024];
        for (var i = 0; i < 2_000 && outcome == SendResult.Queued; i++)
        {
            outcome = await server.Sender.SendToConnectionAsync(id, big, WebSocketMessageType.Binary);
        }

        outcome.Should().Be(SendResult.SlowConsumerDisconnected);
        await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == 0, s_deadline, "the slow consumer is released");

        // ...and one that never answers pings is aborted by the keep-alive timeout.
        using var silent = await RawWebSocketClient.ConnectWebSocketAsync(server.BaseUri, "silent");
        await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == 1, s_deadline, "the silent connection is open");
        var silentId = server.Factory.GetConnections("silent").Single().ConnectionId;
        var handler = server.App.Services.GetRequiredService<RecordingHandler>();
        await PoolTestServer.WaitUntilAsync(() => handler.Disconnects.ContainsKey(silentId), s_deadline, "the silent connection is aborted by keep-alive");
        var ended = handler.Disconnects[silentId];
        ended.Reason.Should().Be(DisconnectReason.KeepAliveTimeout, $"{ended.Exception}");

        // Assert
        var records = PoolRecords(logs);
        Single(records, 6, "SlowConsumer").Level.Should().Be(LogLevel.Warning);
        Single(records, 7, "KeepAliveTimeout");
        NoSecrets(logs);
    }

    [Fact]
    public async Task Log_DrainAndAudit_StartFinishAndMismatchLogged()
    {
        await using var server = await StartAsync(null);
        var logs = server.App.Services.GetFakeLogCollector();
        using var client = await server.ConnectAsync(User);
        await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == 1, s_deadline, "the connection is open");

        server.Factory.InjectCountDriftForTesting(User, 2);
        server.App.Services.GetRequiredService<WebSocketPoolAuditor>().RunOnce().Mismatches.Should().BeGreaterThan(0);
        var close = client.ReceiveCloseAsync();
        await server.App.StopAsync();
        (await close).CloseStatus.Should().Be(WebSocketCloseCodes.GoingAway);

        var records = PoolRecords(logs);
        Single(records, 20, "AuditMismatch").Level.Should().Be(LogLevel.Error);
        Single(records, 10, "DrainStarted").Message.Should().Contain("1 open");
        Single(records, 12, "DrainFinished").Message.Should().Contain("0 WebSockets left");
        NoSecrets(logs);
    }

    /// <summary>
    /// The library never logs a user key, nor a client address, at Information or above (keys may be personal data,
    /// addresses are): every refusal reason, per-IP ones included, an eviction and kicks, from four client addresses,
    /// through a real logging provider that collects every entry at every level.
    /// </summary>
    [Fact]
    public async Task Log_EveryRefusalEvictionAndKick_NoUserKeyOrClientAddressAtInformationOrAbove()
    {
        const string Secret = "secret-user-";
        const string User1 = Secret + "4711";
        const string User2 = Secret + "0815";
        var first = IPAddress.Loopback;
        var second = IPAddress.Parse("127.0.0.2");
        var third = IPAddress.Parse("127.0.0.3");
        var fourth = IPAddress.Parse("127.0.0.4");
        var open = new List<RawWebSocketClient>();
        await using var server = await StartAsync(o =>
        {
            o.MaxConnectionsPerUser = 1;
            o.MaxConnections = 5;
            o.MaxConnectionsPerIP = 2;
            o.ConnectRateLimitPerIP = 0.001;
            o.ConnectRateBurstPerIP = 4;
            o.ConnectRateLimit = 0.001;
            o.ConnectRateBurst = 2;
        });
        await using var evicting = await StartAsync(o =>
        {
            o.MaxConnectionsPerUser = 1;
            o.OverflowPolicy = OverflowPolicy.EvictOldest;
        });
        try
        {
            // Act: each refusal reason once, from the address that provokes it.
            open.Add(await RawWebSocketClient.ConnectAsync(server.BaseUri, User1, localAddress: first));
            (await AttemptAsync(server, User1, first)).Should().Be(429);                     // user_limit
            (await AttemptAsync(server, User1, first)).Should().Be(429);                     // rate_limited
            (await AttemptAsync(server, User1, first)).Should().Be(429);                     // rate_limited
            (await AttemptAsync(server, User1, first)).Should().Be(429);                     // ip_rate_limited
            open.Add(await RawWebSocketClient.ConnectAsync(server.BaseUri, "filler-a", localAddress: second));
            open.Add(await RawWebSocketClient.ConnectAsync(server.BaseUri, "filler-b", localAddress: second));
            (await AttemptAsync(server, User2, second)).Should().Be(429);                    // ip_limit
            open.Add(await RawWebSocketClient.ConnectAsync(server.BaseUri, "filler-c", localAddress: third));
            open.Add(await RawWebSocketClient.ConnectAsync(server.BaseUri, "filler-d", localAddress: third));
            (await AttemptAsync(server, User2, fourth)).Should().Be(503);                    // global_limit
            (await AttemptAsync(server, User2, fourth, ("Origin", "http://evil.example"))).Should().Be(403);
            server.Factory.DisconnectUser(User1).Should().Be(1);
            server.Factory.DisconnectConnection(server.Factory.GetConnections("filler-a").Single().ConnectionId).Should().BeTrue();

            // An eviction, then a kick, on a server with EvictOldest.
            var oldest = await RawWebSocketClient.ConnectAsync(evicting.BaseUri, User1, localAddress: third);
            open.Add(oldest);
            await PoolTestServer.WaitUntilAsync(() => evicting.Factory.OpenConnectionCount == 1, s_deadline, "the first connection is open");
            open.Add(await RawWebSocketClient.ConnectAsync(evicting.BaseUri, User1, localAddress: fourth));
            using (var cts = new CancellationTokenSource(s_deadline))
            {
                (await oldest.ReadCloseCodeAsync(cancellationToken: cts.Token)).Should().Be(WebSocketCloseCodes.Evicted);
            }

            await PoolTestServer.WaitUntilAsync(() => evicting.Factory.GetConnections(User1).Count == 1, s_deadline, "the newcomer is open");
            evicting.Factory.DisconnectUser(User1).Should().Be(1);

            // Assert: the events happened, and none above Debug names a user or an address.
            var records = PoolRecords(server.App.Services.GetFakeLogCollector());
            var evictingRecords = PoolRecords(evicting.App.Services.GetFakeLogCollector());
            var rejected = records.Where(r => r.Id.Id == 1).Select(r => r.Message).ToList();
            foreach (var reason in new[] { "user_limit", "rate_limited", "ip_rate_limited", "ip_limit", "global_limit" })
            {
                rejected.Should().Contain(m => m.Contains(reason + " (", StringComparison.Ordinal), "a {0} refusal is logged", reason);
            }

            records.Should().Contain(r => r.Id.Id == 101 && r.Message.Contains("origin", StringComparison.Ordinal));
            records.Count(r => r.Id.Id == 5).Should().Be(2, "both kicks are logged");
            evictingRecords.Should().Contain(r => r.Id.Id == 4, "the eviction is logged");
            evictingRecords.Should().Contain(r => r.Id.Id == 5, "the kick is logged");
            foreach (var record in records.Concat(evictingRecords).Where(r => r.Level >= LogLevel.Information))
            {
                var texts = new[] { record.Message }.Concat(record.StructuredState?.Select(kv => kv.Value ?? string.Empty) ?? []).ToList();
                texts.Should().NotContain(t => t.Contains(Secret, StringComparison.Ordinal) || t.Contains("filler-", StringComparison.Ordinal),
                    "event {0} ({1}) at {2} must not name a user", record.Id.Id, record.Id.Name, record.Level);
                texts.Should().NotContain(t => t.Contains("127.0.0.", StringComparison.Ordinal),
                    "event {0} ({1}) at {2} must not name a client address", record.Id.Id, record.Id.Name, record.Level);
            }
        }
        finally
        {
            foreach (var client in open)
            {
                client.Reset();
            }
        }
    }

    private static async Task<int> AttemptAsync(PoolTestServer server, string user, IPAddress local, params (string Name, string Value)[] headers)
    {
        using var cts = new CancellationTokenSource(s_deadline);
        await using var client = await RawWebSocketClient.OpenAsync(server.BaseUri, localAddress: local, cancellationToken: cts.Token);
        await client.SendRawAsync(RawWebSocketClient.UpgradeRequest(server.BaseUri, user, "/ws", null, headers), cts.Token);
        return await client.ReadHandshakeResponseAsync(cts.Token);
    }

    private static Task<PoolTestServer> StartAsync(Action<WebSocketPoolOptions>? configure) =>
        PoolTestServer.StartAsync(configure, pool: p => p.AddHandler<RecordingHandler>(), services: s =>
        {
            s.AddFakeLogging();
            s.AddLogging(b => b.SetMinimumLevel(LogLevel.Debug));
        });

    /// <summary>The library's own records (the host's request logging shows raw query strings and is not ours).</summary>
    private static List<FakeLogRecord> PoolRecords(FakeLogCollector logs) =>
        logs.GetSnapshot().Where(r => r.Category?.StartsWith("WebSocketPool", StringComparison.Ordinal) == true).ToList();

    private static FakeLogRecord Single(List<FakeLogRecord> records, int id, string name)
    {
        var matching = records.Where(r => r.Id.Id == id).ToList();
        matching.Should().ContainSingle($"event {id} ({name}) is logged once");
        matching[0].Id.Name.Should().Be(name);
        return matching[0];
    }

    private static void NoSecrets(FakeLogCollector logs)
    {
        var records = PoolRecords(logs);
        records.Should().NotBeEmpty();
        foreach (var record in records)
        {
            record.Message.Should().NotContain(User).And.NotContain(Payload);
            record.StructuredState?.Select(kv => kv.Value ?? string.Empty).Should().NotContain(v => v.Contains(User) || v.Contains(Payload));
        }
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

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

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics.Metrics;
using System.Net.WebSockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using WebSocketPool.Internal;
using WebSocketPool.IntegrationTests.Messaging;

namespace WebSocketPool.IntegrationTests.Diagnostics;

public sealed class AuditTests
{
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task RunOnce_InjectedDrift_FindsAndRepairsSoTheUserIsNoLongerLockedOut()
    {
        // Arrange: a lost release (drift +2) locks a user with one real connection out of a limit of 3.
        await using var server = await PoolTestServer.StartAsync(o => o.MaxConnectionsPerUser = 3);
        var auditor = server.App.Services.GetRequiredService<WebSocketPoolAuditor>();
        using var mismatches = new MetricCollector<long>(server.App.Services.GetRequiredService<IMeterFactory>(), "WebSocketPool", "websocketpool.audit.mismatches");
        using var real = await server.ConnectAsync("locked");
        await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == 1, s_deadline, "the connection is open");
        auditor.RunOnce().Mismatches.Should().Be(0, "nothing has drifted yet");
        server.Factory.InjectCountDriftForTesting("locked", 2);
        server.Factory.GetConnectionCount("locked").Should().Be(3);
        await MetricsTests.RefusedAsync(server, "locked");

        // Act
        var result = auditor.RunOnce();

        // Assert
        result.Mismatches.Should().BeGreaterThan(0);
        result.Repaired.Should().Be(result.Mismatches);
        result.Unrepaired.Should().Be(0);
        server.Factory.GetConnectionCount("locked").Should().Be(1);
        server.Factory.ActiveConnections.Should().Be(1);
        MetricsTests.Sum(mismatches).Should().Be(result.Mismatches);
        using var second = await server.ConnectAsync("locked");
        using var third = await server.ConnectAsync("locked");
        server.Factory.GetConnectionCount("locked").Should().Be(3);
        auditor.RunOnce().Mismatches.Should().Be(0, "the repair holds");
    }

    [Fact]
    public async Task RunOnce_NegativeDriftAndUnknownUser_Repaired()
    {
        await using var server = await PoolTestServer.StartAsync();
        var auditor = server.App.Services.GetRequiredService<WebSocketPoolAuditor>();
        using var a = await server.ConnectAsync("a");
        using var b = await server.ConnectAsync("b");
        await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == 2, s_deadline, "both connections are open");
        server.Factory.InjectCountDriftForTesting("a", -1);
        server.Factory.InjectCountDriftForTesting("ghost", 1);

        var result = auditor.RunOnce();

        result.Unrepaired.Should().Be(0);
        result.Mismatches.Should().BeGreaterThan(0);
        server.Factory.GetConnectionCount("a").Should().Be(1);
        server.Factory.GetConnectionCount("ghost").Should().Be(0);
        server.Factory.ActiveConnections.Should().Be(2);
        auditor.RunOnce().Mismatches.Should().Be(0);
    }

    [Fact]
    public async Task RunOnce_ChurnWithAuditsRunningAlongside_CountsStayTrueAndQuietAuditFindsNothing()
    {
        // Arrange
        await using var server = await PoolTestServer.StartAsync(o =>
        {
            o.MaxConnectionsPerUser = 3;
            o.OverflowPolicy = OverflowPolicy.EvictOldest;
        }, pool: p => p.AddHandler<RecordingHandler>());
        var auditor = server.App.Services.GetRequiredService<WebSocketPoolAuditor>();
        using var steady = await server.ConnectAsync("steady");

        // Act: connects, closes, aborts, evictions and kicks on 4 threads, while the audit runs every few milliseconds
        // (far more often than any real interval). Mid-churn it may flag a release still in flight (a socket already dead
        // and still counted when it looks twice); whatever it repairs must leave the counters true.
        var results = new List<AuditResult>();
        using var stop = new CancellationTokenSource();
        var auditing = Task.Run(async () =>
        {
            for (var i = 0; i < 100_000 && !stop.IsCancellationRequested; i++)
            {
                results.Add(auditor.RunOnce());
                await Task.Delay(5);
            }
        });
        var churn = Enumerable.Range(0, 4).Select(n => Task.Run(async () =>
        {
            for (var round = 0; round < 30; round++)
            {
                var user = "churn" + (n % 2);
                // A refusal is a legitimate answer under churn (every connection of the user still closing, or a drop not
                // yet seen by the server): this test is about the counters, so a refused round is simply skipped.
                using var client = await TryConnectAsync(server, user);
                if (client is null)
                {
                    continue;
                }

                switch (round % 4)
                {
                    case 0:
                        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
                        break;
                    case 1:
                        client.Abort();
                        break;
                    case 2:
                        await server.Sender.DisconnectUserAsync(user);
                        break;
                    default:
                        // Left open: the next connections of the user evict it.
                        break;
                }
            }
        })).ToList();
        await Task.WhenAll(churn).WaitAsync(TimeSpan.FromSeconds(120));
        await PoolTestServer.WaitUntilAsync(
            () => server.Factory.ActiveConnections == 1 && server.Factory.OpenConnectionCount == 1,
            s_deadline,
            "every churned connection is released");
        await stop.CancelAsync();
        await auditing;

        // Assert
        results.Should().NotBeEmpty().And.OnlyContain(r => r.Unrepaired == 0);
        auditor.RunOnce().Mismatches.Should().Be(0, "once quiet, counted leases and live sockets agree");
        server.Factory.GetConnectionCount("steady").Should().Be(1);
        server.Factory.GetConnectionCount("churn0").Should().Be(0);
        server.Factory.GetConnectionCount("churn1").Should().Be(0);
        server.Factory.ActiveConnections.Should().Be(1);
        steady.State.Should().Be(WebSocketState.Open);
    }

    [Fact]
    public async Task RunOnce_ChurnWithoutAudits_QuietAuditFindsZeroMismatches()
    {
        await using var server = await PoolTestServer.StartAsync(o => o.MaxConnectionsPerUser = 5, pool: p => p.AddHandler<RecordingHandler>());
        var auditor = server.App.Services.GetRequiredService<WebSocketPoolAuditor>();

        await Task.WhenAll(Enumerable.Range(0, 4).Select(n => Task.Run(async () =>
        {
            for (var round = 0; round < 40; round++)
            {
                using var client = await TryConnectAsync(server, "storm" + (n % 2));
                if (client is null)
                {
                    continue;
                }

                if (round % 2 == 0)
                {
                    await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
                }
                else
                {
                    client.Abort();
                }
            }
        }))).WaitAsync(TimeSpan.FromSeconds(120));
        await PoolTestServer.WaitUntilAsync(() => server.Factory.ActiveConnections == 0 && server.Factory.OpenConnectionCount == 0, s_deadline, "the storm is over");

        var result = auditor.RunOnce();

        result.Should().Be(new AuditResult(0, 0, 0));
    }

    [Fact]
    public async Task Auditor_PositiveInterval_StartsWithTheHostAndRepairsOnItsOwn()
    {
        // Arrange
        await using var server = await PoolTestServer.StartAsync(
            o => o.AuditInterval = TimeSpan.FromSeconds(1),
            services: s => s.AddHealthChecks().AddWebSocketPoolHealthCheck());
        var auditor = server.App.Services.GetRequiredService<WebSocketPoolAuditor>();
        using var client = await server.ConnectAsync("u");

        // Act
        server.Factory.InjectCountDriftForTesting("u", 4);
        await PoolTestServer.WaitUntilAsync(() => server.Factory.GetConnectionCount("u") == 1, s_deadline, "the timed audit repairs the drift");

        // Assert
        auditor.IsRunning.Should().BeTrue();
        auditor.Runs.Should().BeGreaterThan(0);
        var health = await server.App.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        health.Entries["websocketpool"].Data["auditRunning"].Should().Be(true);
        await server.App.StopAsync();
        auditor.IsRunning.Should().BeFalse("the audit stops with the host");
    }

    [Fact]
    public async Task Auditor_ZeroInterval_DoesNotRunAndHealthSaysSo()
    {
        await using var server = await PoolTestServer.StartAsync(services: s => s.AddHealthChecks().AddWebSocketPoolHealthCheck());

        var health = await server.App.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();

        server.App.Services.GetRequiredService<WebSocketPoolAuditor>().IsRunning.Should().BeFalse();
        health.Entries["websocketpool"].Data["auditRunning"].Should().Be(false);
    }

    /// <summary>Connects, or returns <see langword="null"/> when the pool refused with 429 (the user's limit).</summary>
    private static async Task<ClientWebSocket?> TryConnectAsync(PoolTestServer server, string user)
    {
        var client = new ClientWebSocket();
        client.Options.KeepAliveInterval = TimeSpan.Zero;
        client.Options.CollectHttpResponseDetails = true;
        try
        {
            await client.ConnectAsync(server.WebSocketUri(user), CancellationToken.None);
            return client;
        }
        catch (WebSocketException) when (client.HttpStatusCode == System.Net.HttpStatusCode.TooManyRequests)
        {
            client.Dispose();
            return null;
        }
    }
}

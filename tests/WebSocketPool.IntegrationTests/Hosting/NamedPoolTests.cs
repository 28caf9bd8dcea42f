// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics.Metrics;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Options;
using WebSocketPool.IntegrationTests.Infrastructure;
using WebSocketPool.IntegrationTests.Messaging;

namespace WebSocketPool.IntegrationTests.Hosting;

/// <summary>
/// Several pools in one app: each has its own options (bound from <c>WebSocketPool:Pools:{name}</c> over the shared
/// section), limits, counts, metrics tag, snapshot, health entry and sender; a limit group shares one per-user total.
/// </summary>
public sealed class NamedPoolTests
{
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task TwoPools_DifferentLimits_HeldIndependentlyAtSize()
    {
        // Arrange: chat allows 10 per user, notify 2; 40 users each fill both.
        const int Users = 40;
        await using var server = await StartTwoPoolsAsync(chat: o => o.MaxConnectionsPerUser = 10, notify: o => o.MaxConnectionsPerUser = 2);
        var chat = server.Pool("chat");
        var notify = server.Pool("notify");
        var clients = new List<ClientWebSocket>();

        try
        {
            // Act
            for (var u = 0; u < Users; u++)
            {
                var user = "user" + u;
                clients.AddRange(await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => server.ConnectAsync(user, "/ws/chat"))));
                clients.AddRange(await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => server.ConnectAsync(user, "/ws/notify"))));
            }

            var chatOver = await RefusalAsync(server, "user0", "/ws/chat");
            var notifyOver = await RefusalAsync(server, "user0", "/ws/notify");

            // Assert
            chat.ActiveConnections.Should().Be(Users * 10);
            notify.ActiveConnections.Should().Be(Users * 2);
            chatOver.Should().Contain("429").And.Contain("\"reason\":\"user_limit\"").And.Contain("\"limit\":10");
            notifyOver.Should().Contain("429").And.Contain("\"limit\":2,\"current\":2");
            notify.GetSnapshot().Users.Should().HaveCount(Users).And.OnlyContain(u => u.Connections == 2 && u.Limit == 2);
            chat.GetSnapshot().Users.Should().HaveCount(Users).And.OnlyContain(u => u.Connections == 10 && u.Limit == 10);
            server.Factory.ActiveConnections.Should().Be(0, "the default pool is not mapped and holds nothing");
        }
        finally
        {
            await CloseAllAsync(clients);
        }

        await Conditions.WaitAsync(() => chat.ActiveConnections == 0 && notify.ActiveConnections == 0, s_deadline, "every slot of both pools is released");
    }

    [Fact]
    public async Task LimitGroup_TwoPools_ShareOnePerUserTotal()
    {
        // Arrange: chat and notify in the group "realtime", 4 per user over both; 30 users hold 3 + 1.
        const int Users = 30;
        await using var server = await StartTwoPoolsAsync(
            chat: o => (o.MaxConnectionsPerUser, o.UserLimitGroup) = (4, "realtime"),
            notify: o => (o.MaxConnectionsPerUser, o.UserLimitGroup) = (4, "realtime"));
        var chat = server.Pool("chat");
        var notify = server.Pool("notify");
        var clients = new List<ClientWebSocket>();

        try
        {
            for (var u = 0; u < Users; u++)
            {
                var user = "user" + u;
                clients.AddRange(await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => server.ConnectAsync(user, "/ws/chat"))));
                clients.Add(await server.ConnectAsync(user, "/ws/notify"));
            }

            // Act
            var chatOver = await RefusalAsync(server, "user0", "/ws/chat");
            var notifyOver = await RefusalAsync(server, "user0", "/ws/notify");
            var preview = await PreviewAsync(server, "user0", "/ws/notify");
            await clients[0].CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
            await Conditions.WaitAsync(() => chat.GetConnectionCount("user0") == 2, s_deadline, "user0's chat connection is released");
            clients.Add(await server.ConnectAsync("user0", "/ws/notify"));

            // Assert
            chatOver.Should().Contain("429");
            notifyOver.Should().Contain("429");
            preview.Should().Contain("\"status\":429").And.Contain("\"current\":4", "the preview counts the group's total");
            notify.GetConnectionCount("user0").Should().Be(2, "the place freed in chat was taken in notify");
            chat.ActiveConnections.Should().Be((Users * 3) - 1);
            notify.ActiveConnections.Should().Be(Users + 1);
        }
        finally
        {
            await CloseAllAsync(clients);
        }

        await Conditions.WaitAsync(() => chat.ActiveConnections == 0 && notify.ActiveConnections == 0, s_deadline, "every slot is released");
        chat.SharedLimit!.UserCount.Should().Be(0, "the group's totals go with the last connection");
        chat.SharedLimit.Should().BeSameAs(notify.SharedLimit);
    }

    [Fact]
    public async Task LimitGroup_ConcurrentAttemptsThroughBothPools_AdmitExactlyTheTotal()
    {
        // Arrange: 20 users each race 12 attempts (6 per pool) against a shared total of 5.
        await using var server = await StartTwoPoolsAsync(
            chat: o => (o.MaxConnectionsPerUser, o.UserLimitGroup) = (5, "realtime"),
            notify: o => (o.MaxConnectionsPerUser, o.UserLimitGroup) = (5, "realtime"));
        var attempts = Enumerable.Range(0, 20).SelectMany(u => Enumerable.Range(0, 12).Select(i => (User: "user" + u, Path: i % 2 == 0 ? "/ws/chat" : "/ws/notify")));

        // Act
        var results = await Task.WhenAll(attempts.Select(async a =>
        {
            try
            {
                return (a.User, Client: await server.ConnectAsync(a.User, a.Path));
            }
            catch (WebSocketException)
            {
                return (a.User, Client: (ClientWebSocket?)null);
            }
        }));
        var admitted = results.Where(r => r.Client is not null).ToList();

        try
        {
            // Assert
            admitted.GroupBy(r => r.User).Should().HaveCount(20).And.OnlyContain(g => g.Count() == 5);
            (server.Pool("chat").ActiveConnections + server.Pool("notify").ActiveConnections).Should().Be(100);
        }
        finally
        {
            await CloseAllAsync(admitted.Select(r => r.Client!).ToList());
        }
    }

    [Fact]
    public async Task LimitGroup_PoolsWithDifferentLimits_MapThrows()
    {
        // Arrange
        var builder = WebApplication.CreateSlimBuilder();
        builder.Services.AddWebSocketPooling();
        await using var app = builder.Build();
        app.MapWebSocketPool<CoreTestHandler>("/a", "a", o => (o.MaxConnectionsPerUser, o.UserLimitGroup) = (4, "g"));

        // Act
        var map = () => app.MapWebSocketPool<CoreTestHandler>("/b", "b", o => (o.MaxConnectionsPerUser, o.UserLimitGroup) = (5, "g"));

        // Assert
        map.Should().Throw<InvalidOperationException>().WithMessage("*'b'*UserLimitGroup 'g'*4*");
    }

    [Fact]
    public async Task Metrics_TwoPools_EachMeasurementTaggedWithItsPool()
    {
        // Arrange
        await using var server = await StartTwoPoolsAsync(chat: o => o.MaxConnectionsPerUser = 3, notify: o => o.MaxConnectionsPerUser = 1);
        var meters = server.App.Services.GetRequiredService<IMeterFactory>();
        using var rejected = new MetricCollector<long>(meters, "WebSocketPool", "websocketpool.rejected_connections");
        using var active = new MetricCollector<int>(meters, "WebSocketPool", "websocketpool.active_connections");

        // Act
        using var c1 = await server.ConnectAsync("alice", "/ws/chat");
        using var c2 = await server.ConnectAsync("alice", "/ws/chat");
        using var n1 = await server.ConnectAsync("alice", "/ws/notify");
        await RefusalAsync(server, "alice", "/ws/notify");
        active.RecordObservableInstruments();

        // Assert
        rejected.GetMeasurementSnapshot().Should().ContainSingle()
            .Which.Tags.Should().Contain("websocketpool.pool", "notify").And.Contain("websocketpool.rejection.reason", "user_limit");
        var byPool = active.GetMeasurementSnapshot().ToDictionary(m => (string)m.Tags["websocketpool.pool"]!, m => m.Value);
        byPool.Should().Contain("chat", 2).And.Contain("notify", 1).And.Contain("default", 0);
        server.Pool("notify").GetSnapshot().Rejected["user_limit"].Should().Be(1);
        server.Pool("chat").GetSnapshot().Rejected["user_limit"].Should().Be(0);
    }

    [Fact]
    public async Task Stats_PoolQuery_AnswersThatPoolsSnapshotAndUnknownIs404()
    {
        // Arrange
        await using var server = await StartTwoPoolsAsync(
            chat: o => o.MaxConnections = 50, notify: o => o.MaxConnections = 20, stats: true, defaultPool: true);
        using var inDefault = await server.ConnectAsync("alice");
        using var inNotify = await server.ConnectAsync("bob", "/ws/notify");
        using var http = new HttpClient { BaseAddress = server.BaseUri };

        // Act
        var defaultStats = await http.GetStringAsync(new Uri("/stats", UriKind.Relative));
        var namedDefault = await http.GetStringAsync(new Uri("/stats?pool=default", UriKind.Relative));
        var notifyStats = await http.GetStringAsync(new Uri("/stats?pool=notify&top=5", UriKind.Relative));
        using var unknown = await http.GetAsync(new Uri("/stats?pool=nope", UriKind.Relative));

        // Assert
        var defaultShape = $"{{\"activeConnections\":1,\"maxConnections\":{server.Factory.Options.MaxConnections},\"userCount\":1,";
        defaultStats.Should().StartWith(defaultShape).And.Contain("\"user\":\"alice\"");
        namedDefault.Should().StartWith(defaultShape);
        notifyStats.Should().StartWith("{\"activeConnections\":1,\"maxConnections\":20,").And.Contain("\"user\":\"bob\"").And.NotContain("alice");
        unknown.StatusCode.Should().Be(HttpStatusCode.NotFound);
        unknown.Content.Headers.ContentType!.MediaType.Should().Be("application/problem+json");
        (await unknown.Content.ReadAsStringAsync()).Should().Contain("'nope'");
    }

    [Fact]
    public async Task Options_PoolSection_BindsOverSharedSectionThenMapCallback()
    {
        // Arrange
        var settings = new Dictionary<string, string?>
        {
            ["WebSocketPool:MaxConnectionsPerUser"] = "7",
            ["WebSocketPool:SendQueueCapacity"] = "64",
            ["WebSocketPool:Pools:notify:MaxConnectionsPerUser"] = "2",
            ["WebSocketPool:Pools:notify:MaxMessageBytes"] = "4096",
            ["WebSocketPool:Pools:notify:AllowAnonymous"] = "true",
        };

        // Act
        await using var server = await PoolTestServer.StartAsync(
            settings: settings,
            pipeline: app =>
            {
                app.UseWebSocketPooling();
                app.MapWebSocketPool<CoreTestHandler>("/ws/notify", "notify", o => o.MaxMessageBytes = 8192);
            });
        var notify = server.Pool("notify").Options;

        // Assert
        server.Factory.Options.MaxConnectionsPerUser.Should().Be(7, "the shared section still configures the default pool");
        server.Factory.Options.AllowAnonymous.Should().BeFalse();
        notify.MaxConnectionsPerUser.Should().Be(2, "the pool's section binds over the shared one");
        notify.SendQueueCapacity.Should().Be(64, "what the pool does not set comes from the shared section");
        notify.AllowAnonymous.Should().BeTrue();
        notify.MaxMessageBytes.Should().Be(8192, "MapWebSocketPool's callback comes last");
        notify.AuditInterval.Should().Be(TimeSpan.Zero, "AddWebSocketPooling's callback is shared too");
    }

    [Fact]
    public async Task Options_UnknownKeyOrBadValueInPoolSection_RefusedWhenMapped()
    {
        // Arrange
        await using var misspelt = BuildApp(new() { ["WebSocketPool:Pools:notify:MaxConectionsPerUser"] = "2" });
        await using var invalid = BuildApp(new() { ["WebSocketPool:Pools:notify:MaxConnectionsPerUser"] = "0" });

        // Act
        var mapMisspelt = () => misspelt.MapWebSocketPool<CoreTestHandler>("/ws/notify", "notify");
        var mapInvalid = () => invalid.MapWebSocketPool<CoreTestHandler>("/ws/notify", "notify");

        // Assert
        mapMisspelt.Should().Throw<InvalidOperationException>().WithMessage("*MaxConectionsPerUser*");
        mapInvalid.Should().Throw<OptionsValidationException>().WithMessage("*MaxConnectionsPerUser*");
    }

    [Fact]
    public async Task BadInput_HealthCheckPoolNameKeyAndLimitGroup_RefusedClearly()
    {
        // Arrange
        await using var app = BuildApp([]);
        var health = new ServiceCollection().AddHealthChecks();

        // Act
        var emptyPool = () => health.AddNamedWebSocketPoolHealthCheck("");
        var nullPool = () => health.AddNamedWebSocketPoolHealthCheck(null!);
        var notAName = () => app.Services.GetRequiredKeyedService<IWebSocketSender>(42);
        var badGroup = () => app.MapWebSocketPool<CoreTestHandler>("/ws/x", "x", o => o.UserLimitGroup = "two words");

        // Assert
        emptyPool.Should().Throw<ArgumentException>();
        nullPool.Should().Throw<ArgumentNullException>();
        notAName.Should().Throw<InvalidOperationException>().WithMessage("*keyed by their name*");
        badGroup.Should().Throw<OptionsValidationException>().WithMessage("*UserLimitGroup*");
    }

    [Fact]
    public async Task Options_ConfiguredPoolNotMapped_StartFailsNamingIt()
    {
        // Arrange
        await using var app = BuildApp(new() { ["WebSocketPool:Pools:notfy:MaxConnectionsPerUser"] = "2" });
        app.MapWebSocketPool<CoreTestHandler>("/ws/notify", "notify");

        // Act
        var start = () => app.StartAsync();

        // Assert
        (await start.Should().ThrowAsync<InvalidOperationException>()).WithMessage("*WebSocketPool:Pools:notfy*'notfy'*mapped: 'notify'*");
    }

    [Fact]
    public async Task Kestrel_ConfiguredPools_UpgradedLimitSizedForAllAndMapTimeExcessWarned()
    {
        // Arrange: the default pool 100 and notify 50 in configuration; "late" raises its cap only where it is mapped.
        var settings = new Dictionary<string, string?>
        {
            ["WebSocketPool:MaxConnections"] = "100",
            ["WebSocketPool:MaxConnectionsPerUser"] = "10",
            ["WebSocketPool:Pools:notify:MaxConnections"] = "50",
        };

        // Act
        await using var server = await PoolTestServer.StartAsync(
            settings: settings,
            services: s => s.AddFakeLogging(),
            pipeline: app =>
            {
                app.UseWebSocketPooling();
                app.MapWebSocketPool<CoreTestHandler>("/ws/notify", "notify");
                app.MapWebSocketPool<CoreTestHandler>("/ws/late", "late", o => o.MaxConnections = 1000);
            });
        var upgraded = server.App.Services.GetRequiredService<IOptions<KestrelServerOptions>>().Value.Limits.MaxConcurrentUpgradedConnections;

        // Assert: sized for the configured 100 + 50, plus the 1 % slack (at least 16); "late" is known only once mapped.
        upgraded.Should().Be(150 + 16);
        server.App.Services.GetFakeLogCollector().GetSnapshot()
            .Should().ContainSingle(r => r.Id.Name == "PoolsAboveUpgradedLimit")
            .Which.Message.Should().Contain("add up to 1150").And.Contain("166");
    }

    [Fact]
    public async Task Sender_KeyedByPool_ReachesOnlyThatPoolsConnections()
    {
        // Arrange: alice is in both pools.
        await using var server = await StartTwoPoolsAsync(chat: _ => { }, notify: _ => { }, defaultPool: true);
        using var inDefault = await server.ConnectAsync("alice");
        using var inNotify = await server.ConnectAsync("alice", "/ws/notify");
        var notifySender = server.App.Services.GetRequiredKeyedService<IWebSocketSender>("notify");
        var defaultSender = server.App.Services.GetRequiredKeyedService<IWebSocketSender>(WebSocketPoolOptions.DefaultPoolName);

        // Act
        var toNotify = await notifySender.SendToUserAsync("alice", Encoding.UTF8.GetBytes("for notify"), WebSocketMessageType.Text);
        var toDefault = await defaultSender.SendToUserAsync("alice", Encoding.UTF8.GetBytes("for default"), WebSocketMessageType.Text);
        var unknown = () => server.App.Services.GetRequiredKeyedService<IWebSocketSender>("nope").SendToAllAsync(Encoding.UTF8.GetBytes("x"), WebSocketMessageType.Text).AsTask();

        // Assert
        toNotify.Should().Be(1);
        toDefault.Should().Be(1);
        (await inNotify.ReceiveTextAsync()).Should().Be("for notify");
        (await inDefault.ReceiveTextAsync()).Should().Be("for default");
        defaultSender.Should().BeSameAs(server.Sender);
        await unknown.Should().ThrowAsync<InvalidOperationException>().WithMessage("*'nope'*");
    }

    [Fact]
    public async Task Sender_InjectedBeforeItsPoolIsMapped_FindsThePoolAtTheFirstSend()
    {
        // Arrange: the chat pool's handler takes the notify pool's sender, and chat is mapped first.
        await using var server = await PoolTestServer.StartAsync(
            services: s => s.AddSingleton<NotifyingHandler>(),
            pipeline: app =>
            {
                app.MapWebSocketPool<NotifyingHandler>("/ws/chat", "chat");
                app.MapWebSocketPool<RecordingHandler>("/ws/notify", "notify");
            });
        using var watcher = await server.ConnectAsync("bob", "/ws/notify");

        // Act
        using var joining = await server.ConnectAsync("alice", "/ws/chat");

        // Assert
        (await watcher.ReceiveTextAsync()).Should().Be("alice joined");
    }

    [Fact]
    public async Task Health_PerPool_EachPoolItsOwnEntry()
    {
        // Arrange: notify holds 4 connections in all, so 2 reach its alert threshold; the default pool's 10,000 do not move.
        await using var server = await StartTwoPoolsAsync(
            chat: _ => { },
            notify: o => (o.MaxConnections, o.MaxConnectionsPerUser) = (4, 4),
            services: s => s.AddHealthChecks().AddWebSocketPoolHealthCheck().AddNamedWebSocketPoolHealthCheck("notify"));
        using var n1 = await server.ConnectAsync("alice", "/ws/notify");
        using var n2 = await server.ConnectAsync("bob", "/ws/notify");

        // Act
        var report = await server.App.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();

        // Assert
        report.Entries["websocketpool"].Status.Should().Be(HealthStatus.Healthy);
        report.Entries["websocketpool-notify"].Status.Should().Be(HealthStatus.Degraded);
        report.Entries["websocketpool-notify"].Data["activeConnections"].Should().Be(2);
    }

    private sealed class NotifyingHandler([FromKeyedServices("notify")] IWebSocketSender notify) : WebSocketHandler
    {
        public override async ValueTask OnConnectedAsync(WebSocketConnection connection, CancellationToken cancellationToken) =>
            await notify.SendToAllAsync(Encoding.UTF8.GetBytes(connection.UserKey + " joined"), WebSocketMessageType.Text, cancellationToken);
    }

    private static WebApplication BuildApp(Dictionary<string, string?> settings)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddWebSocketPooling();
        return builder.Build();
    }

    private static Task<PoolTestServer> StartTwoPoolsAsync(
        Action<WebSocketPoolOptions> chat,
        Action<WebSocketPoolOptions> notify,
        bool stats = false,
        bool defaultPool = false,
        Action<IServiceCollection>? services = null) =>
        PoolTestServer.StartAsync(
            services: services,
            pipeline: app =>
            {
                if (defaultPool)
                {
                    app.UseWebSocketPooling();
                }

                app.MapWebSocketPool<CoreTestHandler>("/ws/chat", "chat", chat);
                app.MapWebSocketPool<RecordingHandler>("/ws/notify", "notify", notify);
                if (stats)
                {
                    app.MapWebSocketPoolStats();
                }
            });

    private static async Task<string> RefusalAsync(PoolTestServer server, string user, string path)
    {
        var connect = () => server.ConnectAsync(user, path);
        var refused = await connect.Should().ThrowAsync<WebSocketException>();
        return refused.Which.Message + " " + await PreviewAsync(server, user, path);
    }

    /// <summary>The plain GET's answer: what the refused upgrade got, as a body the test can read.</summary>
    private static async Task<string> PreviewAsync(PoolTestServer server, string user, string path)
    {
        using var http = new HttpClient { BaseAddress = server.BaseUri };
        using var response = await http.GetAsync(new Uri(path + "?user=" + user, UriKind.Relative));
        return await response.Content.ReadAsStringAsync();
    }

    private static async Task CloseAllAsync(List<ClientWebSocket> clients)
    {
        await Task.WhenAll(clients.Where(c => c.State == WebSocketState.Open)
            .Select(c => c.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None)));
        foreach (var client in clients)
        {
            client.Dispose();
        }
    }
}

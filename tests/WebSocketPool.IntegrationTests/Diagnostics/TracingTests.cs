// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using WebSocketPool.IntegrationTests.Infrastructure;
using WebSocketPool.IntegrationTests.Messaging;

namespace WebSocketPool.IntegrationTests.Diagnostics;

/// <summary>
/// The pool's spans as a tracing SDK sees them: an <see cref="ActivityListener"/> on the pool's source and ASP.NET Core's,
/// real Kestrel, and each request carrying a <c>traceparent</c> of its own so that only this test's spans are read.
/// </summary>
public sealed class TracingTests : IDisposable
{
    private const string UpgradeSpan = "websocketpool.upgrade";
    private const string EndSpan = "websocketpool.connection.end";
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(10);

    private readonly ConcurrentQueue<Activity> _started = new();
    private readonly ConcurrentQueue<Activity> _stopped = new();
    private readonly ActivityListener _listener;

    public TracingTests()
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = static source => source.Name is WebSocketPoolTelemetry.ActivitySourceName or "Microsoft.AspNetCore",
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStarted = _started.Enqueue,
            ActivityStopped = _stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(_listener);
    }

    [Fact]
    public async Task Upgrade_Admitted_ChildOfTheRequestWithDecisionPoolAndStatusButNoUser()
    {
        // Arrange
        await using var server = await PoolTestServer.StartAsync();
        var trace = ActivityTraceId.CreateRandom();

        // Act
        using var client = await ConnectAsync(server, "alice", trace);
        var upgrade = await StoppedAsync(trace, UpgradeSpan);

        // Assert
        var request = _started.Single(a => a.TraceId == trace && a.Source.Name == "Microsoft.AspNetCore");
        upgrade.ParentSpanId.Should().Be(request.SpanId, "the upgrade span is a child of the request's activity");
        upgrade.Source.Version.Should().Be(typeof(PooledWebSocketManagerFactory).Assembly.GetName().Version!.ToString());
        upgrade.GetTagItem("websocketpool.admission.decision").Should().Be("admitted");
        upgrade.GetTagItem("websocketpool.pool").Should().Be("default");
        upgrade.GetTagItem("http.response.status_code").Should().Be(101);
        upgrade.GetTagItem("websocketpool.connection.id").Should().Be(server.Factory.GetConnections("alice").Single().ConnectionId);
        upgrade.GetTagItem("websocketpool.rejection.reason").Should().BeNull();
        upgrade.Tags.Select(t => t.Value).Should().NotContain("alice", "the user key is not traced unless the app opts in");
        upgrade.GetTagItem("enduser.id").Should().BeNull();
    }

    [Fact]
    public async Task Upgrade_NamedPools_EachSpanCarriesItsOwnPoolsName()
    {
        // Arrange: the default pool and a named one, each with its own limit.
        await using var server = await PoolTestServer.StartAsync(pipeline: app =>
        {
            app.UseWebSocketPooling();
            app.MapWebSocketPool<CoreTestHandler>("/ws/notify", "notify", o => o.MaxConnectionsPerUser = 1);
        });
        var chatTrace = ActivityTraceId.CreateRandom();
        var notifyTrace = ActivityTraceId.CreateRandom();
        var refusedTrace = ActivityTraceId.CreateRandom();

        // Act
        using var chat = await ConnectAsync(server, "carol", chatTrace);
        using var notify = await ConnectAsync(server, "carol", notifyTrace, "/ws/notify");
        var refused = async () => { using var _ = await ConnectAsync(server, "carol", refusedTrace, "/ws/notify"); };
        await refused.Should().ThrowAsync<WebSocketException>();

        // Assert
        (await StoppedAsync(chatTrace, UpgradeSpan)).GetTagItem("websocketpool.pool").Should().Be("default");
        var admitted = await StoppedAsync(notifyTrace, UpgradeSpan);
        admitted.GetTagItem("websocketpool.pool").Should().Be("notify");
        admitted.GetTagItem("websocketpool.connection.id").Should().Be(server.Pool("notify").GetConnections("carol").Single().ConnectionId);
        var refusal = await StoppedAsync(refusedTrace, UpgradeSpan);
        refusal.GetTagItem("websocketpool.pool").Should().Be("notify", "a refusal is traced under the pool that refused it");
        refusal.GetTagItem("websocketpool.rejection.reason").Should().Be("user_limit");
    }

    [Fact]
    public async Task Upgrade_RefusedAtUserLimit_Tags429AndReasonUnderTheRequest()
    {
        // Arrange
        await using var server = await PoolTestServer.StartAsync(o => o.MaxConnectionsPerUser = 1);
        using var first = await ConnectAsync(server, "bob", ActivityTraceId.CreateRandom());
        var trace = ActivityTraceId.CreateRandom();

        // Act
        var refused = async () => { using var _ = await ConnectAsync(server, "bob", trace); };
        await refused.Should().ThrowAsync<WebSocketException>();
        var upgrade = await StoppedAsync(trace, UpgradeSpan);
        var request = await StoppedAsync(trace, "Microsoft.AspNetCore.Hosting.HttpRequestIn");

        // Assert
        upgrade.ParentSpanId.Should().Be(request.SpanId);
        upgrade.GetTagItem("websocketpool.admission.decision").Should().Be("refused");
        upgrade.GetTagItem("websocketpool.rejection.reason").Should().Be("user_limit");
        upgrade.GetTagItem("http.response.status_code").Should().Be(429);
        upgrade.GetTagItem("websocketpool.pool").Should().Be("default");
        upgrade.GetTagItem("enduser.id").Should().BeNull();
    }

    [Fact]
    public async Task ConnectionEnd_Kicked_LinkedToTheUpgradeWithReasonAndCloseCode()
    {
        // Arrange
        await using var server = await PoolTestServer.StartAsync();
        var trace = ActivityTraceId.CreateRandom();
        using var client = await ConnectAsync(server, "carol", trace);
        var upgrade = await StoppedAsync(trace, UpgradeSpan);

        // Act
        server.Factory.DisconnectUser("carol").Should().Be(1);
        var buffer = new byte[16];
        (await client.ReceiveAsync(buffer, new CancellationTokenSource(s_deadline).Token)).MessageType.Should().Be(WebSocketMessageType.Close);
        await client.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        var end = await StoppedAsync(trace, EndSpan);

        // Assert
        end.Links.Should().ContainSingle().Which.Context.SpanId.Should().Be(upgrade.SpanId);
        end.ParentSpanId.Should().Be(upgrade.ParentSpanId, "the end is a child of the request's activity, which lasts as long as the connection");
        end.GetTagItem("websocketpool.disconnect.reason").Should().Be("kicked");
        end.GetTagItem("websocketpool.close_code").Should().Be(4003);
        end.GetTagItem("websocketpool.pool").Should().Be("default");
        end.GetTagItem("websocketpool.connection.id").Should().Be(upgrade.GetTagItem("websocketpool.connection.id"));
        ((double)end.GetTagItem("websocketpool.connection.duration")!).Should().BeGreaterThanOrEqualTo(0);
    }

    [Fact]
    public async Task ConnectionEnd_ClientClosed_TaggedClientClosedWith1000()
    {
        // Arrange
        await using var server = await PoolTestServer.StartAsync();
        var trace = ActivityTraceId.CreateRandom();
        using var client = await ConnectAsync(server, "dave", trace);

        // Act
        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, new CancellationTokenSource(s_deadline).Token);
        var end = await StoppedAsync(trace, EndSpan);

        // Assert
        end.GetTagItem("websocketpool.disconnect.reason").Should().Be("client_closed");
        end.GetTagItem("websocketpool.close_code").Should().Be(1000);
    }

    [Fact]
    public async Task Upgrade_TraceUserKeyOptedIn_TagsTheUserOnAdmittedAndRefused()
    {
        // Arrange
        await using var server = await PoolTestServer.StartAsync(o =>
        {
            o.TraceUserKey = true;
            o.MaxConnectionsPerUser = 1;
        });
        var admittedTrace = ActivityTraceId.CreateRandom();
        var refusedTrace = ActivityTraceId.CreateRandom();

        // Act
        using var client = await ConnectAsync(server, "erin", admittedTrace);
        var refused = async () => { using var _ = await ConnectAsync(server, "erin", refusedTrace); };
        await refused.Should().ThrowAsync<WebSocketException>();

        // Assert
        (await StoppedAsync(admittedTrace, UpgradeSpan)).GetTagItem("enduser.id").Should().Be("erin");
        (await StoppedAsync(refusedTrace, UpgradeSpan)).GetTagItem("enduser.id").Should().Be("erin");
    }

    [Fact]
    public async Task Upgrade_ListenerThrowsOnStop_ConnectionStillRunsAndReleasesItsSlot()
    {
        // Arrange: a tracing listener that fails when the upgrade span stops, between the accept and the connection's run.
        await using var server = await PoolTestServer.StartAsync(pool: p => p.AddHandler<RecordingHandler>());
        using var faulty = new ActivityListener
        {
            ShouldListenTo = static source => source.Name == WebSocketPoolTelemetry.ActivitySourceName,
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = static activity =>
            {
                if (activity.OperationName == UpgradeSpan)
                {
                    throw new InvalidOperationException("A broken exporter.");
                }
            },
        };
        ActivitySource.AddActivityListener(faulty);

        // Act
        using var client = await ConnectAsync(server, "grace", ActivityTraceId.CreateRandom());
        await client.SendTextAsync("still here");
        var echo = await client.ReceiveTextAsync();
        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, new CancellationTokenSource(s_deadline).Token);

        // Assert
        echo.Should().Be("still here");
        await Conditions.WaitAsync(() => server.Factory.ActiveConnections == 0, s_deadline, "the connection's slot is released");
    }

    public void Dispose() => _listener.Dispose();

    private static async Task<ClientWebSocket> ConnectAsync(PoolTestServer server, string user, ActivityTraceId trace, string path = "/ws")
    {
        var client = new ClientWebSocket();
        client.Options.KeepAliveInterval = TimeSpan.Zero;
        client.Options.SetRequestHeader("traceparent", $"00-{trace.ToHexString()}-{ActivitySpanId.CreateRandom().ToHexString()}-01");
        try
        {
            using var timeout = new CancellationTokenSource(s_deadline);
            await client.ConnectAsync(server.WebSocketUri(user, path), timeout.Token);
            return client;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    private async Task<Activity> StoppedAsync(ActivityTraceId trace, string operationName)
    {
        await Conditions.WaitAsync(() => _stopped.Any(a => a.TraceId == trace && a.OperationName == operationName), s_deadline,
            $"a '{operationName}' activity of the trace has stopped");
        return _stopped.Single(a => a.TraceId == trace && a.OperationName == operationName);
    }
}

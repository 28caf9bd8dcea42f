// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using System.Net.WebSockets;
using WebSocketPool.BrowserTests.Infrastructure;

namespace WebSocketPool.BrowserTests;

/// <summary>
/// The ChatServer's operator endpoints against the real process: Prometheus metrics at <c>/metrics</c> after known
/// traffic, and who may reach <c>/metrics</c>, <c>/stats</c> and the dashboard (loopback callers; a remote caller,
/// made through the forwarded-headers path, gets 404).
/// </summary>
public sealed class ChatServerObservabilityTests(ObservedChatServerFixture fixture) : IClassFixture<ObservedChatServerFixture>
{
    private const string Scope = "otel_scope_name=\"WebSocketPool\"";
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(30);

    private Uri BaseUri => fixture.Server.BaseUri;

    [Fact]
    public async Task Metrics_AfterKnownTraffic_ShowsThePoolsInstrumentsWithTheirValues()
    {
        // Arrange: the shipped per-user limit is 5.
        using var alice = ChatClient.For(BaseUri);
        using var bob = ChatClient.For(BaseUri);
        (await alice.LoginAsync("metrics-alice")).StatusCode.Should().Be(HttpStatusCode.Redirect);
        (await bob.LoginAsync("metrics-bob")).StatusCode.Should().Be(HttpStatusCode.Redirect);
        var sockets = new List<ClientWebSocket>();
        using var http = new HttpClient { BaseAddress = BaseUri };
        try
        {
            // Act
            for (var i = 0; i < 5; i++)
            {
                sockets.Add(await alice.ConnectAsync());
            }

            var bobs = new[] { await bob.ConnectAsync(), await bob.ConnectAsync() };
            sockets.AddRange(bobs);
            (await alice.TryConnectStatusAsync()).Should().Be(429);
            var open = await ScrapeUntilAsync(http, m =>
                PrometheusText.Value(m, "websocketpool_active_connections", Scope) == 7
                && PrometheusText.Value(m, "websocketpool_rejected_connections_total", Scope, "websocketpool_rejection_reason=\"user_limit\"") == 1,
                "7 connections open and one user_limit refusal");

            foreach (var socket in bobs)
            {
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
            }

            var closed = await ScrapeUntilAsync(http, m =>
                PrometheusText.Value(m, "websocketpool_active_connections", Scope) == 5
                && PrometheusText.Value(m, "websocketpool_connection_duration_seconds_count", Scope, "websocketpool_disconnect_reason=\"client_closed\"") >= 2,
                "bob's two connections closed and their durations recorded");

            // Assert
            PrometheusText.Value(open, "websocketpool_users_near_limit", Scope).Should().BeGreaterThanOrEqualTo(1, "metrics-alice is at her limit");
            PrometheusText.Value(closed, "websocketpool_rejected_connections_total", Scope, "websocketpool_rejection_reason=\"user_limit\"").Should().Be(1);
            PrometheusText.HasSampleStartingWith(closed, "http_server_request_duration_seconds").Should().BeTrue("ASP.NET Core's meter is exported");
            PrometheusText.HasSampleStartingWith(closed, "dotnet_").Should().BeTrue("the runtime's meter is exported");
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }
        }
    }

    [Theory]
    [InlineData("/metrics")]
    [InlineData("/admin/websockets")]
    [InlineData("/admin/websockets/data")]
    [InlineData("/stats")]
    public async Task OperatorEndpoint_RemoteCallerThroughTrustedProxy_Gets404_LoopbackCaller200(string path)
    {
        // Arrange
        using var remote = new HttpClient { BaseAddress = BaseUri };
        remote.DefaultRequestHeaders.Add("X-Forwarded-For", "203.0.113.7");
        using var local = new HttpClient { BaseAddress = BaseUri };

        // Act
        using var refused = await remote.GetAsync(new Uri(path, UriKind.Relative));
        using var allowed = await local.GetAsync(new Uri(path, UriKind.Relative));

        // Assert
        refused.StatusCode.Should().Be(HttpStatusCode.NotFound);
        allowed.StatusCode.Should().Be(HttpStatusCode.OK);
    }

    private static async Task<string> ScrapeUntilAsync(HttpClient http, Func<string, bool> condition, string because)
    {
        var last = string.Empty;
        await Conditions.WaitAsync(async () =>
        {
            last = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
            return condition(last);
        }, s_deadline, because);
        return last;
    }
}

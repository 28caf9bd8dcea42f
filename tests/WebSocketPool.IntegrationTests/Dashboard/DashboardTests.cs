// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Time.Testing;
using WebSocketPool.IntegrationTests.Infrastructure;
using WebSocketPool.Internal;

namespace WebSocketPool.IntegrationTests.Dashboard;

/// <summary>
/// The dashboard over HTTP on real Kestrel: the page and its assets, who may see it (loopback by default; a remote
/// caller is made through the app's forwarded-headers path with this machine as the trusted proxy), its data, the kick
/// with its antiforgery token, and the server-side ring of samples on a fake clock.
/// </summary>
public sealed class DashboardTests
{
    private const string Prefix = "/admin/websockets";
    private const string Remote = "203.0.113.7";
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Page_Loopback_ServedWithItsOwnAssetsAndACsp()
    {
        // Arrange
        await using var server = await StartAsync();
        using var http = new HttpClient { BaseAddress = server.BaseUri };

        // Act
        using var page = await http.GetAsync(new Uri(Prefix, UriKind.Relative));
        using var script = await http.GetAsync(new Uri(Prefix + "/dashboard.js", UriKind.Relative));
        using var style = await http.GetAsync(new Uri(Prefix + "/dashboard.css", UriKind.Relative));
        var html = await page.Content.ReadAsStringAsync();

        // Assert
        page.StatusCode.Should().Be(HttpStatusCode.OK);
        page.Content.Headers.ContentType!.MediaType.Should().Be("text/html");
        var csp = page.Headers.GetValues("Content-Security-Policy").Single();
        csp.Should().Contain("default-src 'none'").And.Contain("script-src 'self'").And.Contain("frame-ancestors 'none'");
        html.Should().Contain($"src=\"{Prefix}/dashboard.js\"").And.Contain($"href=\"{Prefix}/dashboard.css\"");
        html.Should().NotContain("http://").And.NotContain("https://").And.NotContain("<script>", "no inline script, no CDN");
        script.StatusCode.Should().Be(HttpStatusCode.OK);
        script.Content.Headers.ContentType!.MediaType.Should().Be("text/javascript");
        (await script.Content.ReadAsStringAsync()).Should().Contain("createElementNS");
        style.StatusCode.Should().Be(HttpStatusCode.OK);
        style.Content.Headers.ContentType!.MediaType.Should().Be("text/css");
    }

    [Fact]
    public async Task Dashboard_RemoteCallerWithoutAuthorization_Gets404OnEveryEndpoint()
    {
        // Arrange
        await using var server = await StartAsync();
        using var remote = new HttpClient { BaseAddress = server.BaseUri };
        remote.DefaultRequestHeaders.Add("X-Forwarded-For", Remote);
        using var local = new HttpClient { BaseAddress = server.BaseUri };

        // Act
        using var page = await remote.GetAsync(new Uri(Prefix, UriKind.Relative));
        using var data = await remote.GetAsync(new Uri(Prefix + "/data", UriKind.Relative));
        using var kick = await remote.PostAsync(new Uri(Prefix + "/kick", UriKind.Relative), new FormUrlEncodedContent([new("user", "alice")]));
        using var localPage = await local.GetAsync(new Uri(Prefix, UriKind.Relative));

        // Assert
        page.StatusCode.Should().Be(HttpStatusCode.NotFound);
        data.StatusCode.Should().Be(HttpStatusCode.NotFound);
        kick.StatusCode.Should().Be(HttpStatusCode.NotFound);
        localPage.StatusCode.Should().Be(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Dashboard_RequireAuthorization_AppliesToRemoteCallers()
    {
        // Arrange
        await using var server = await StartAsync(dashboard: d => d.RequireAuthorization());
        using var anonymous = new HttpClient { BaseAddress = server.BaseUri };
        anonymous.DefaultRequestHeaders.Add("X-Forwarded-For", Remote);
        using var signedIn = new HttpClient { BaseAddress = server.BaseUri };
        signedIn.DefaultRequestHeaders.Add("X-Forwarded-For", Remote);
        signedIn.DefaultRequestHeaders.Add(HeaderAuthenticationHandler.HeaderName, "operator");

        // Act
        using var refused = await anonymous.GetAsync(new Uri(Prefix + "/data", UriKind.Relative));
        using var allowed = await signedIn.GetAsync(new Uri(Prefix + "/data", UriKind.Relative));

        // Assert
        refused.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        allowed.StatusCode.Should().Be(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Data_AfterConnectionsAndARefusal_ReportsCountsTopUsersReasonsAndHealth()
    {
        // Arrange
        await using var server = await StartAsync(o => o.MaxConnectionsPerUser = 3);
        var sockets = new List<ClientWebSocket>();
        for (var i = 0; i < 3; i++)
        {
            sockets.Add(await server.ConnectAsync("alice"));
        }

        sockets.Add(await server.ConnectAsync("bob"));
        var refused = () => server.ConnectAsync("alice");
        await refused.Should().ThrowAsync<WebSocketException>();
        await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == 4, s_deadline, "four connections are open");
        using var http = new HttpClient { BaseAddress = server.BaseUri };

        // Act
        using var data = JsonDocument.Parse(await http.GetStringAsync(new Uri(Prefix + "/data", UriKind.Relative)));
        var root = data.RootElement;

        // Assert
        root.GetProperty("pool").GetString().Should().Be("default");
        root.GetProperty("activeConnections").GetInt32().Should().Be(4);
        root.GetProperty("userCount").GetInt32().Should().Be(2);
        var top = root.GetProperty("users")[0];
        (top.GetProperty("user").GetString(), top.GetProperty("connections").GetInt32(), top.GetProperty("limit").GetInt32()).Should().Be(("alice", 3, 3));
        root.GetProperty("rejected").GetProperty("user_limit").GetInt64().Should().Be(1);
        root.GetProperty("evicted").GetInt64().Should().Be(0);
        root.GetProperty("health").GetProperty("status").GetString().Should().Be("Healthy");
        var now = root.GetProperty("samples").EnumerateArray().Last();
        now.GetProperty("connections").GetInt32().Should().Be(4);
        now.GetProperty("users").GetInt32().Should().Be(2);
        var userLimit = root.GetProperty("reasons").EnumerateArray().Select(r => r.GetString()).ToList().IndexOf("user_limit");
        now.GetProperty("rejected")[userLimit].GetInt64().Should().Be(1);
        root.GetProperty("kick").GetProperty("token").GetString().Should().NotBeNullOrEmpty();
        foreach (var socket in sockets)
        {
            socket.Dispose();
        }
    }

    [Fact]
    public async Task Data_HundredsOfUsers_ListsOnlyTheTenNearestTheirLimit()
    {
        // Arrange: 150 users holding 1, 2 or 3 of their 3 connections: 300 sockets.
        await using var server = await StartAsync(o => o.MaxConnectionsPerUser = 3);
        var sockets = new List<ClientWebSocket>();
        try
        {
            for (var user = 0; user < 150; user++)
            {
                for (var i = 0; i <= user % 3; i++)
                {
                    sockets.Add(await server.ConnectAsync($"user{user}"));
                }
            }

            await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == 300, s_deadline, "300 connections are open");
            using var http = new HttpClient { BaseAddress = server.BaseUri };

            // Act
            using var data = JsonDocument.Parse(await http.GetStringAsync(new Uri(Prefix + "/data", UriKind.Relative)));

            // Assert
            var root = data.RootElement;
            root.GetProperty("activeConnections").GetInt32().Should().Be(300);
            root.GetProperty("userCount").GetInt32().Should().Be(150);
            var users = root.GetProperty("users").EnumerateArray().ToList();
            users.Should().HaveCount(10, "the page lists the ten users nearest their limit, not every user");
            users.Should().OnlyContain(u => u.GetProperty("connections").GetInt32() == 3 && u.GetProperty("limit").GetInt32() == 3);
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }
        }
    }

    [Fact]
    public async Task Kick_WithTheAntiforgeryToken_ClosesTheUsersSocketsWith4003_WithoutIt400()
    {
        // Arrange
        await using var server = await StartAsync();
        using var first = await server.ConnectAsync("carol");
        using var second = await server.ConnectAsync("carol");
        using var other = await server.ConnectAsync("dave");
        await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == 3, s_deadline, "three connections are open");
        using var handler = new HttpClientHandler { CookieContainer = new CookieContainer() };
        using var http = new HttpClient(handler) { BaseAddress = server.BaseUri };
        using var data = JsonDocument.Parse(await http.GetStringAsync(new Uri(Prefix + "/data", UriKind.Relative)));
        var kick = data.RootElement.GetProperty("kick");

        // Act
        using var forged = await http.PostAsync(new Uri(Prefix + "/kick", UriKind.Relative), new FormUrlEncodedContent([new("user", "carol")]));
        var openAfterForged = server.Factory.GetConnectionCount("carol");
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(Prefix + "/kick", UriKind.Relative))
        {
            Content = new FormUrlEncodedContent([new("user", "carol")]),
        };
        request.Headers.Add(kick.GetProperty("headerName").GetString()!, kick.GetProperty("token").GetString());
        using var kicked = await http.SendAsync(request);

        // Assert
        forged.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        openAfterForged.Should().Be(2, "a kick without the token closes nothing");
        kicked.StatusCode.Should().Be(HttpStatusCode.OK);
        var answer = await kicked.Content.ReadFromJsonAsync<JsonElement>();
        answer.GetProperty("closed").GetInt32().Should().Be(2);
        answer.GetProperty("closeCode").GetInt32().Should().Be(4003);
        (await first.ReceiveCloseStatusAsync(s_deadline)).Should().Be(4003);
        (await second.ReceiveCloseStatusAsync(s_deadline)).Should().Be(4003);
        other.State.Should().Be(WebSocketState.Open);
        server.Factory.GetConnectionCount("dave").Should().Be(1);
    }

    [Fact]
    public async Task Dashboard_ForANamedPool_ShowsAndKicksThatPoolsConnectionsOnly()
    {
        // Arrange: a dashboard per pool; frank holds three notify sockets and one chat socket.
        await using var server = await PoolTestServer.StartAsync(
            services: s => s.AddAntiforgery(),
            pipeline: app =>
            {
                app.UseWebSocketPooling();
                app.MapWebSocketPool<CoreTestHandler>("/ws/notify", "notify", o => o.MaxConnectionsPerUser = 3);
                app.MapWebSocketPoolDashboard("/ops/notify", o => o.Pool = "notify");
                app.MapWebSocketPoolDashboard(Prefix);
            });
        var notify = new List<ClientWebSocket>();
        for (var i = 0; i < 3; i++)
        {
            notify.Add(await server.ConnectAsync("frank", "/ws/notify"));
        }

        notify.Add(await server.ConnectAsync("gina", "/ws/notify"));
        using var chat = await server.ConnectAsync("frank");
        var notifyPool = server.Pool("notify");
        await PoolTestServer.WaitUntilAsync(() => notifyPool.OpenConnectionCount == 4 && server.Factory.OpenConnectionCount == 1, s_deadline, "four notify sockets and one chat socket are open");
        using var handler = new HttpClientHandler { CookieContainer = new CookieContainer() };
        using var http = new HttpClient(handler) { BaseAddress = server.BaseUri };

        // Act
        using var notifyData = JsonDocument.Parse(await http.GetStringAsync(new Uri("/ops/notify/data", UriKind.Relative)));
        using var defaultData = JsonDocument.Parse(await http.GetStringAsync(new Uri(Prefix + "/data", UriKind.Relative)));
        var kick = notifyData.RootElement.GetProperty("kick");
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/ops/notify/kick", UriKind.Relative))
        {
            Content = new FormUrlEncodedContent([new("user", "frank")]),
        };
        request.Headers.Add(kick.GetProperty("headerName").GetString()!, kick.GetProperty("token").GetString());
        using var kicked = await http.SendAsync(request);

        // Assert
        notifyData.RootElement.GetProperty("pool").GetString().Should().Be("notify");
        notifyData.RootElement.GetProperty("activeConnections").GetInt32().Should().Be(4);
        notifyData.RootElement.GetProperty("userCount").GetInt32().Should().Be(2);
        notifyData.RootElement.GetProperty("users")[0].GetProperty("limit").GetInt32().Should().Be(3, "the page shows the pool's own limit");
        defaultData.RootElement.GetProperty("pool").GetString().Should().Be("default");
        defaultData.RootElement.GetProperty("activeConnections").GetInt32().Should().Be(1);
        kicked.StatusCode.Should().Be(HttpStatusCode.OK);
        (await kicked.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("closed").GetInt32().Should().Be(3, "the kick closes frank's sockets of this pool");
        for (var i = 0; i < 3; i++)
        {
            (await notify[i].ReceiveCloseStatusAsync(s_deadline)).Should().Be(4003);
        }

        notify[3].State.Should().Be(WebSocketState.Open);
        chat.State.Should().Be(WebSocketState.Open, "frank's socket in the other pool is not this dashboard's to kick");
        server.Factory.GetConnectionCount("frank").Should().Be(1);
        foreach (var socket in notify)
        {
            socket.Dispose();
        }
    }

    [Fact]
    public async Task Dashboard_ForAPoolNotMapped_RefusedAtMapTime()
    {
        // Act
        var start = async () =>
        {
            await using var _ = await PoolTestServer.StartAsync(
                services: s => s.AddAntiforgery(),
                pipeline: app => app.MapWebSocketPoolDashboard("/ops/notify", o => o.Pool = "notify"));
        };

        // Assert
        (await start.Should().ThrowAsync<InvalidOperationException>()).WithMessage("*'notify'*MapWebSocketPool*");
    }

    [Fact]
    public async Task Kick_CallerOutsideKickPolicy_ForbiddenAndOfferedNoButton()
    {
        // Arrange
        await using var server = await StartAsync(configureDashboard: o => o.KickPolicy = "ops");
        using var socket = await server.ConnectAsync("erin");
        using var viewer = new HttpClient { BaseAddress = server.BaseUri };
        viewer.DefaultRequestHeaders.Add(HeaderAuthenticationHandler.HeaderName, "viewer");
        using var operatorClient = new HttpClient { BaseAddress = server.BaseUri };
        operatorClient.DefaultRequestHeaders.Add(HeaderAuthenticationHandler.HeaderName, "ops-alice");

        // Act
        using var viewerData = JsonDocument.Parse(await viewer.GetStringAsync(new Uri(Prefix + "/data", UriKind.Relative)));
        using var viewerKick = await viewer.PostAsync(new Uri(Prefix + "/kick", UriKind.Relative), new FormUrlEncodedContent([new("user", "erin")]));
        using var operatorData = JsonDocument.Parse(await operatorClient.GetStringAsync(new Uri(Prefix + "/data", UriKind.Relative)));

        // Assert
        viewerData.RootElement.GetProperty("kick").ValueKind.Should().Be(JsonValueKind.Null);
        viewerKick.StatusCode.Should().Be(HttpStatusCode.Forbidden);
        server.Factory.GetConnectionCount("erin").Should().Be(1);
        operatorData.RootElement.GetProperty("kick").ValueKind.Should().Be(JsonValueKind.Object);
    }

    [Fact]
    public async Task History_OnAFakeClock_SamplesEveryIntervalAndKeepsOnlyTheWindow()
    {
        // Arrange
        var clock = new FakeTimeProvider(DateTimeOffset.Parse("2026-11-30T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        await using var server = await StartAsync(
            configureDashboard: o =>
            {
                o.SampleInterval = TimeSpan.FromSeconds(5);
                o.History = TimeSpan.FromSeconds(30);
            },
            services: s => s.Replace(ServiceDescriptor.Singleton<TimeProvider>(clock)));
        var history = server.App.Services.GetRequiredService<DashboardHistory>();
        var first = history.Read();

        // Act
        using var socket = await server.ConnectAsync("frank");
        await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == 1, s_deadline, "the connection is open");
        for (var i = 0; i < 10; i++)
        {
            clock.Advance(TimeSpan.FromSeconds(5));
        }

        var later = history.Read();

        // Assert
        first.Should().ContainSingle("the first sample is taken when the dashboard is mapped").Which.Connections.Should().Be(0);
        later.Should().HaveCount(6, "30 s of history at one sample per 5 s");
        later.Select(p => p.Time).Should().BeInAscendingOrder().And.OnlyHaveUniqueItems();
        later[^1].Time.Should().Be(clock.GetUtcNow().ToUnixTimeMilliseconds());
        later[0].Time.Should().Be(clock.GetUtcNow().AddSeconds(-25).ToUnixTimeMilliseconds());
        later.Should().OnlyContain(p => p.Connections == 1 && p.Users == 1);
    }

    private static Task<PoolTestServer> StartAsync(
        Action<WebSocketPoolOptions>? configure = null,
        Action<IEndpointConventionBuilder>? dashboard = null,
        Action<WebSocketPoolDashboardOptions>? configureDashboard = null,
        Action<IServiceCollection>? services = null) =>
        PoolTestServer.StartAsync(
            configure,
            services: s =>
            {
                s.AddAuthentication(HeaderAuthenticationHandler.SchemeName)
                    .AddScheme<AuthenticationSchemeOptions, HeaderAuthenticationHandler>(HeaderAuthenticationHandler.SchemeName, null);
                s.AddAuthorization(o => o.AddPolicy("ops", p => p.RequireAssertion(c => c.User.Identity?.Name?.StartsWith("ops-", StringComparison.Ordinal) == true
                    || c.User.FindFirst(System.Security.Claims.ClaimTypes.NameIdentifier)?.Value.StartsWith("ops-", StringComparison.Ordinal) == true)));
                s.AddAntiforgery();
                services?.Invoke(s);
            },
            pipeline: app =>
            {
                // The app's forwarded-headers path: this machine is the trusted proxy (ForwardedHeadersOptions' default
                // known network is 127.0.0.0/8), so X-Forwarded-For makes the caller remote.
                app.UseForwardedHeaders(new ForwardedHeadersOptions { ForwardedHeaders = ForwardedHeaders.XForwardedFor });
                app.UseAuthentication();
                app.UseAuthorization();
                app.UseWebSocketPooling();
                var builder = app.MapWebSocketPoolDashboard(Prefix, configureDashboard);
                dashboard?.Invoke(builder);
            });
}

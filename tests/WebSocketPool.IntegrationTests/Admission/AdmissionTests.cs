// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using WebSocketPool.IntegrationTests.Connections;
using WebSocketPool.IntegrationTests.Infrastructure;

namespace WebSocketPool.IntegrationTests.Admission;

/// <summary>
/// Every refusal is decided on the HTTP request, before the upgrade, and answered with a status, <c>Connection: close</c>
/// and a problem+json body; the plain GET preview answers with the same decision and reserves nothing.
/// </summary>
public sealed class AdmissionTests : IDisposable
{
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };

    public void Dispose() => _http.Dispose();

    [Fact]
    public async Task Upgrade_DisallowedOrigin_Returns403BeforeUpgrade()
    {
        await using var server = await StartAsync();
        using var client = NewClient();
        client.Options.SetRequestHeader("Origin", "http://evil.example");

        var connect = () => client.ConnectAsync(server.WebSocketUri("alice"), CancellationToken.None);

        await connect.Should().ThrowAsync<WebSocketException>();
        client.HttpStatusCode.Should().Be(HttpStatusCode.Forbidden);
        server.Factory.GetConnectionCount("alice").Should().Be(0);
        server.Factory.ActiveConnections.Should().Be(0);

        using var response = await SendUpgradeAsync(server, "alice", origin: "http://evil.example");
        await AssertProblemAsync(response, HttpStatusCode.Forbidden, RejectionReasons.Origin, expectLimit: false);
        server.Factory.GetSnapshot(0).Rejected[RejectionReasons.Origin].Should().Be(2);
    }

    [Fact]
    public async Task Upgrade_SameOrigin_IsAdmitted()
    {
        await using var server = await StartAsync();
        using var client = NewClient();
        client.Options.SetRequestHeader("Origin", $"http://{server.BaseUri.Authority}");

        await client.ConnectAsync(server.WebSocketUri("alice"), CancellationToken.None);

        client.HttpStatusCode.Should().Be(HttpStatusCode.SwitchingProtocols);
        server.Factory.GetConnectionCount("alice").Should().Be(1);
        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await AssertReleasedAsync(server);
    }

    [Fact]
    public async Task Upgrade_Anonymous_Returns401()
    {
        await using var server = await StartAsync();
        using var client = NewClient();
        var uri = new UriBuilder(server.BaseUri) { Scheme = "ws", Path = "/ws" }.Uri;

        var connect = () => client.ConnectAsync(uri, CancellationToken.None);

        await connect.Should().ThrowAsync<WebSocketException>();
        client.HttpStatusCode.Should().Be(HttpStatusCode.Unauthorized);
        using var response = await SendUpgradeAsync(server, user: null);
        await AssertProblemAsync(response, HttpStatusCode.Unauthorized, RejectionReasons.Unauthenticated, expectLimit: false);
        server.Factory.ActiveConnections.Should().Be(0);
        server.Factory.UserEntryCount.Should().Be(0);
    }

    [Fact]
    public async Task Upgrade_UserAtLimit_Returns429ProblemWithLimitAndCurrent()
    {
        await using var server = await StartAsync(o => o.MaxConnectionsPerUser = 2);
        using var first = await server.ConnectAsync("alice");
        using var second = await server.ConnectAsync("alice");
        using var client = NewClient();

        var connect = () => client.ConnectAsync(server.WebSocketUri("alice"), CancellationToken.None);

        await connect.Should().ThrowAsync<WebSocketException>();
        client.HttpStatusCode.Should().Be(HttpStatusCode.TooManyRequests);
        client.HttpResponseHeaders!.Should().ContainKey("Retry-After");
        using var response = await SendUpgradeAsync(server, "alice");
        var body = await AssertProblemAsync(response, HttpStatusCode.TooManyRequests, RejectionReasons.UserLimit, expectLimit: true);
        body.GetProperty("limit").GetInt32().Should().Be(2);
        body.GetProperty("current").GetInt32().Should().Be(2);
        response.Headers.RetryAfter!.Delta.Should().BePositive();
        server.Factory.GetConnectionCount("alice").Should().Be(2, "the refusals reserved nothing");

        // Another user is not affected by alice's limit.
        using var bob = await server.ConnectAsync("bob");
        server.Factory.GetConnectionCount("bob").Should().Be(1);
    }

    [Fact]
    public async Task Upgrade_GlobalCapReached_Returns503ProblemWithLimitAndCurrent()
    {
        await using var server = await StartAsync(o =>
        {
            o.MaxConnections = 2;
            o.MaxConnectionsPerUser = 2;
        });
        using var alice = await server.ConnectAsync("alice");
        using var bob = await server.ConnectAsync("bob");
        using var client = NewClient();

        var connect = () => client.ConnectAsync(server.WebSocketUri("carol"), CancellationToken.None);

        await connect.Should().ThrowAsync<WebSocketException>();
        client.HttpStatusCode.Should().Be(HttpStatusCode.ServiceUnavailable);
        using var response = await SendUpgradeAsync(server, "carol");
        var body = await AssertProblemAsync(response, HttpStatusCode.ServiceUnavailable, RejectionReasons.GlobalLimit, expectLimit: true);
        body.GetProperty("limit").GetInt32().Should().Be(2);
        body.GetProperty("current").GetInt32().Should().Be(2);
        response.Headers.RetryAfter!.Delta.Should().BePositive();
        server.Factory.ActiveConnections.Should().Be(2);
        server.Factory.GetConnectionCount("carol").Should().Be(0);

        await alice.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await Conditions.WaitAsync(() => server.Factory.ActiveConnections == 1, TimeSpan.FromSeconds(10), "alice's slot is released");
        using var carol = await server.ConnectAsync("carol");
        server.Factory.GetConnectionCount("carol").Should().Be(1);
    }

    [Fact]
    public async Task Upgrade_ConnectRateExceeded_Returns429WithRetryAfterUntilTokensRefill()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await StartAsync(
            o =>
            {
                o.ConnectRateLimit = 1;
                o.ConnectRateBurst = 2;
            },
            services => services.AddSingleton<TimeProvider>(time));

        // The burst of two is spent even though each connection is closed again at once.
        for (var i = 0; i < 2; i++)
        {
            using var client = await server.ConnectAsync("alice");
            await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        }

        using var refused = NewClient();
        var connect = () => refused.ConnectAsync(server.WebSocketUri("alice"), CancellationToken.None);
        await connect.Should().ThrowAsync<WebSocketException>();
        refused.HttpStatusCode.Should().Be(HttpStatusCode.TooManyRequests);

        using var response = await SendUpgradeAsync(server, "alice");
        await AssertProblemAsync(response, HttpStatusCode.TooManyRequests, RejectionReasons.RateLimited, expectLimit: true);
        response.Headers.RetryAfter!.Delta.Should().Be(TimeSpan.FromSeconds(1));
        server.Factory.GetSnapshot(0).Rejected[RejectionReasons.RateLimited].Should().Be(2);

        // Another user has a bucket of their own.
        using (var bob = await server.ConnectAsync("bob"))
        {
            await bob.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        }

        time.Advance(TimeSpan.FromSeconds(1));
        using var again = await server.ConnectAsync("alice");
        server.Factory.GetConnectionCount("alice").Should().Be(1);
        await again.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await AssertReleasedAsync(server);
    }

    [Fact]
    public async Task Preview_UnderLimit_Returns200WithCountsAndReservesNothing()
    {
        await using var server = await StartAsync(o => o.MaxConnectionsPerUser = 1);

        for (var i = 0; i < 5; i++)
        {
            using var response = await _http.GetAsync(PreviewUri(server, "alice"));
            response.StatusCode.Should().Be(HttpStatusCode.OK);
            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            json.RootElement.GetProperty("user").GetString().Should().Be("alice");
            json.RootElement.GetProperty("connections").GetInt32().Should().Be(0);
            json.RootElement.GetProperty("limit").GetInt32().Should().Be(1);
        }

        server.Factory.GetConnectionCount("alice").Should().Be(0, "a preview reserves nothing");
        server.Factory.ActiveConnections.Should().Be(0);
        server.Factory.UserEntryCount.Should().Be(0, "a preview leaves no per-user state behind");

        // The single slot is still there for a real upgrade.
        using var client = await server.ConnectAsync("alice");
        server.Factory.GetConnectionCount("alice").Should().Be(1);
    }

    [Fact]
    public async Task Preview_UserAtLimit_Returns429ProblemAndReservesNothing()
    {
        await using var server = await StartAsync(o => o.MaxConnectionsPerUser = 1);
        using var client = await server.ConnectAsync("alice");

        using var response = await _http.GetAsync(PreviewUri(server, "alice"));

        var body = await AssertProblemAsync(response, HttpStatusCode.TooManyRequests, RejectionReasons.UserLimit, expectLimit: true);
        body.GetProperty("limit").GetInt32().Should().Be(1);
        body.GetProperty("current").GetInt32().Should().Be(1);
        server.Factory.GetConnectionCount("alice").Should().Be(1);
        server.Factory.ActiveConnections.Should().Be(1);

        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await AssertReleasedAsync(server);
        using var after = await _http.GetAsync(PreviewUri(server, "alice"));
        after.StatusCode.Should().Be(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Preview_Anonymous_Returns401Problem()
    {
        await using var server = await StartAsync();

        using var response = await _http.GetAsync(new UriBuilder(server.BaseUri) { Path = "/ws" }.Uri);

        await AssertProblemAsync(response, HttpStatusCode.Unauthorized, RejectionReasons.Unauthenticated, expectLimit: false);
    }

    [Fact]
    public async Task Upgrade_Draining_Returns503WithRetryAfterAndOpenSocketsSee1001()
    {
        await using var server = await StartAsync();
        using var open = await server.ConnectAsync("alice");

        server.Factory.BeginDrain();

        (await open.ReceiveCloseAsync()).Should().Be(WebSocketCloseCodes.GoingAway);
        using var client = NewClient();
        var connect = () => client.ConnectAsync(server.WebSocketUri("bob"), CancellationToken.None);
        await connect.Should().ThrowAsync<WebSocketException>();
        client.HttpStatusCode.Should().Be(HttpStatusCode.ServiceUnavailable);

        using var response = await SendUpgradeAsync(server, "bob");
        await AssertProblemAsync(response, HttpStatusCode.ServiceUnavailable, RejectionReasons.Draining, expectLimit: false);
        response.Headers.RetryAfter!.Delta.Should().BePositive();
        using var preview = await _http.GetAsync(PreviewUri(server, "bob"));
        await AssertProblemAsync(preview, HttpStatusCode.ServiceUnavailable, RejectionReasons.Draining, expectLimit: false);
        await AssertReleasedAsync(server);
        server.Factory.GetConnectionCount("bob").Should().Be(0);
    }

    [Fact]
    public async Task Upgrade_WithoutUserAndDisallowedOrigin_OriginIsCheckedFirst()
    {
        await using var server = await StartAsync();

        using var response = await SendUpgradeAsync(server, user: null, origin: "http://evil.example");

        await AssertProblemAsync(response, HttpStatusCode.Forbidden, RejectionReasons.Origin, expectLimit: false);
    }

    private static Task<PoolTestServer> StartAsync(Action<WebSocketPoolOptions>? configure = null, Action<IServiceCollection>? services = null) =>
        PoolTestServer.StartAsync(configure, pool: p => p.AddHandler<CoreTestHandler>(), services: services);

    private static ClientWebSocket NewClient()
    {
        var client = new ClientWebSocket();
        client.Options.KeepAliveInterval = TimeSpan.Zero;
        client.Options.CollectHttpResponseDetails = true;
        return client;
    }

    private static Uri PreviewUri(PoolTestServer server, string user) =>
        new UriBuilder(server.BaseUri) { Path = "/ws", Query = "user=" + Uri.EscapeDataString(user) }.Uri;

    /// <summary>Sends a WebSocket upgrade request through a plain HttpClient, so that the refusal's body can be read.</summary>
    private async Task<HttpResponseMessage> SendUpgradeAsync(PoolTestServer server, string? user, string? origin = null)
    {
        var uri = user is null ? new UriBuilder(server.BaseUri) { Path = "/ws" }.Uri : PreviewUri(server, user);
        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        request.Headers.Connection.Add("Upgrade");
        request.Headers.Upgrade.Add(new ProductHeaderValue("websocket"));
        request.Headers.Add("Sec-WebSocket-Key", Convert.ToBase64String(RandomNumberGenerator.GetBytes(16)));
        request.Headers.Add("Sec-WebSocket-Version", "13");
        if (origin is not null)
        {
            request.Headers.Add("Origin", origin);
        }

        return await _http.SendAsync(request);
    }

    private static async Task<JsonElement> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string reason, bool expectLimit)
    {
        response.StatusCode.Should().Be(status);
        response.Headers.ConnectionClose.Should().BeTrue("a refusal closes the connection");
        response.Content.Headers.ContentType!.MediaType.Should().Be("application/problem+json");
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var body = json.RootElement.Clone();
        body.GetProperty("type").GetString().Should().EndWith(reason);
        body.GetProperty("title").GetString().Should().NotBeNullOrWhiteSpace();
        body.GetProperty("status").GetInt32().Should().Be((int)status);
        body.GetProperty("detail").GetString().Should().NotBeNullOrWhiteSpace();
        if (expectLimit)
        {
            body.TryGetProperty("limit", out _).Should().BeTrue();
            body.TryGetProperty("current", out _).Should().BeTrue();
            response.Headers.RetryAfter.Should().NotBeNull("retrying a limit makes sense later");
        }

        return body;
    }

    private static async Task AssertReleasedAsync(PoolTestServer server) =>
        await Conditions.WaitAsync(
            () => server.Factory.ActiveConnections == 0 && server.Factory.OpenConnectionCount == 0,
            TimeSpan.FromSeconds(10),
            "every lease is released");
}

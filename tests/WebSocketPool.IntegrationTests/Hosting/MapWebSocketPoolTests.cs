// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using System.Net.WebSockets;
using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using WebSocketPool.IntegrationTests.Infrastructure;

namespace WebSocketPool.IntegrationTests.Hosting;

/// <summary>
/// <c>MapWebSocketPool</c> maps a pool as an endpoint: conventions (route groups, authorization, host) apply before the
/// pool's own checks, route values reach the resolver and the handler, and each mistake in mapping is refused clearly.
/// </summary>
public sealed class MapWebSocketPoolTests
{
    [Fact]
    public async Task MapWebSocketPool_InGroupWithAuthorizationPolicy_AdmitsMembersAndLeavesOthersToTheScheme()
    {
        // Arrange: the group's policy admits alice only; the test scheme challenges with 401 and forbids with 403.
        var handler = new CoreTestHandler();
        await using var server = await PoolTestServer.StartAsync(
            services: s =>
            {
                s.AddSingleton(handler);
                s.AddAuthentication(HeaderAuthenticationHandler.SchemeName)
                    .AddScheme<AuthenticationSchemeOptions, HeaderAuthenticationHandler>(HeaderAuthenticationHandler.SchemeName, null);
                s.AddAuthorizationBuilder().AddPolicy("members", p => p.RequireClaim(ClaimTypes.NameIdentifier, "alice"));
            },
            pipeline: app =>
            {
                app.UseAuthentication();
                app.UseAuthorization();
                app.MapGroup("/rt").RequireAuthorization("members").MapWebSocketPool<CoreTestHandler>("/chat");
            });

        // Act
        using var member = await ConnectAsync(server, "/rt/chat", "alice");
        var anonymous = await RefusedStatusAsync(server, "/rt/chat", header: null);
        var outsider = await RefusedStatusAsync(server, "/rt/chat", header: "mallory");

        // Assert
        member.State.Should().Be(WebSocketState.Open);
        handler.Connected.Should().ContainSingle(c => c.UserKey == "alice");
        anonymous.Should().Be(HttpStatusCode.Unauthorized, "the scheme's challenge answers before the pool");
        outsider.Should().Be(HttpStatusCode.Forbidden, "the scheme's forbid answers before the pool");
        server.Factory.GetSnapshot().Rejected.Values.Should().AllSatisfy(v => v.Should().Be(0), "the pool never saw the refused requests");
    }

    [Fact]
    public async Task MapWebSocketPool_CookieSchemePolicy_AnonymousRedirectedUnlessTheAppAnswers401()
    {
        // Arrange: the same policy over a cookie scheme, as is, and with its redirect turned into a 401.
        await using var redirecting = await StartCookieServerAsync(answer401: false);
        await using var answering = await StartCookieServerAsync(answer401: true);

        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });

        // Act
        using var redirected = await http.GetAsync(new Uri(redirecting.BaseUri, "/ws"));
        var handshake = await RefusedStatusAsync(redirecting, "/ws", header: null);
        var unauthorized = await RefusedStatusAsync(answering, "/ws", header: null);

        // Assert
        redirected.StatusCode.Should().Be(HttpStatusCode.Redirect, "the cookie scheme's challenge redirects to its login page");
        redirected.Headers.Location!.AbsolutePath.Should().Be("/Account/Login");
        handshake.Should().NotBe(HttpStatusCode.Unauthorized, "a WebSocket client learns nothing useful from a redirect");
        unauthorized.Should().Be(HttpStatusCode.Unauthorized);

        static Task<PoolTestServer> StartCookieServerAsync(bool answer401) => PoolTestServer.StartAsync(
            services: s =>
            {
                s.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme).AddCookie(o =>
                {
                    if (answer401)
                    {
                        o.Events.OnRedirectToLogin = context =>
                        {
                            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                            return Task.CompletedTask;
                        };
                    }
                });
                s.AddAuthorization();
            },
            pipeline: app =>
            {
                app.UseAuthentication();
                app.UseAuthorization();
                app.MapWebSocketPool<CoreTestHandler>("/ws").RequireAuthorization();
            });
    }

    [Fact]
    public async Task MapWebSocketPool_RouteValues_ReachResolverAndHandler()
    {
        // Arrange: the resolver keys users per room, from the route.
        var handler = new CoreTestHandler();
        await using var server = await PoolTestServer.StartAsync(
            pool: p => p.AddUserKeyResolver<RoomUserKeyResolver>(),
            services: s => s.AddSingleton(handler),
            pipeline: app => app.MapWebSocketPool<CoreTestHandler>("/rooms/{room}/ws"));

        // Act
        using var lobby = await server.ConnectAsync("alice", "/rooms/lobby/ws");
        using var kitchen = await server.ConnectAsync("alice", "/rooms/kitchen/ws");
        await Conditions.WaitAsync(() => handler.Connected.Count == 2, TimeSpan.FromSeconds(10), "both connections reach the handler");

        // Assert
        handler.Connected.Select(c => c.UserKey).Should().BeEquivalentTo(["lobby/alice", "kitchen/alice"]);
        handler.Connected.Select(c => (string)c.RouteValues["room"]!).Should().BeEquivalentTo(["lobby", "kitchen"]);
        server.Factory.GetConnectionCount("lobby/alice").Should().Be(1);
    }

    [Fact]
    public async Task MapWebSocketPool_PlainGetAndHead_AnswerThePreview()
    {
        // Arrange
        await using var server = await PoolTestServer.StartAsync(
            configure: o => o.MaxConnectionsPerUser = 3,
            pipeline: app => app.MapWebSocketPool<CoreTestHandler>("/live"));
        using var http = new HttpClient { BaseAddress = server.BaseUri };

        // Act
        using var get = await http.GetAsync(new Uri("/live?user=alice", UriKind.Relative));
        using var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, new Uri("/live?user=alice", UriKind.Relative)));
        using var post = await http.PostAsync(new Uri("/live?user=alice", UriKind.Relative), null);

        // Assert
        get.StatusCode.Should().Be(HttpStatusCode.OK);
        (await get.Content.ReadAsStringAsync()).Should().Be("{\"user\":\"alice\",\"connections\":0,\"limit\":3}");
        head.StatusCode.Should().Be(HttpStatusCode.OK);
        post.StatusCode.Should().Be(HttpStatusCode.MethodNotAllowed, "the pool's endpoint answers GET, HEAD and CONNECT only");
    }

    [Fact]
    public async Task MapWebSocketPool_Http2ExtendedConnect_AdmittedAndCounted()
    {
        // Arrange: HTTP/2 only (h2c with prior knowledge), where a WebSocket is opened with CONNECT, not GET.
        var handler = new CoreTestHandler();
        await using var server = await PoolTestServer.StartAsync(
            configure: o => o.MaxConnectionsPerUser = 1,
            services: s =>
            {
                s.AddSingleton(handler);
                s.Configure<KestrelServerOptions>(k => k.ConfigureEndpointDefaults(l => l.Protocols = HttpProtocols.Http2));
            },
            pipeline: app => app.MapWebSocketPool<CoreTestHandler>("/h2"));
        using var invoker = new HttpMessageInvoker(new SocketsHttpHandler());

        // Act
        using var first = NewHttp2Client();
        await first.ConnectAsync(server.WebSocketUri("alice", "/h2"), invoker, CancellationToken.None);
        using var second = NewHttp2Client();
        var refused = () => second.ConnectAsync(server.WebSocketUri("alice", "/h2"), invoker, CancellationToken.None);
        await refused.Should().ThrowAsync<WebSocketException>();

        // Assert
        first.State.Should().Be(WebSocketState.Open);
        first.HttpStatusCode.Should().Be(HttpStatusCode.OK, "an HTTP/2 WebSocket is accepted with 200, not 101");
        second.HttpStatusCode.Should().Be(HttpStatusCode.TooManyRequests);
        handler.Connected.Should().ContainSingle(c => c.UserKey == "alice");
        server.Factory.ActiveConnections.Should().Be(1);

        static ClientWebSocket NewHttp2Client()
        {
            var client = new ClientWebSocket();
            client.Options.HttpVersion = HttpVersion.Version20;
            client.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
            client.Options.CollectHttpResponseDetails = true;
            client.Options.KeepAliveInterval = TimeSpan.Zero;
            return client;
        }
    }

    [Fact]
    public async Task MapWebSocketPool_RequireRateLimiting_RefusedWith503ByDefault()
    {
        // Arrange: one permit, never replenished within the test; the app sets no rejection status.
        await using var server = await PoolTestServer.StartAsync(
            services: s => s.AddRateLimiter(o => o.AddFixedWindowLimiter("one", w => (w.PermitLimit, w.Window, w.QueueLimit) = (1, TimeSpan.FromHours(1), 0))),
            pipeline: app =>
            {
                app.UseRateLimiter();
                app.MapWebSocketPool<CoreTestHandler>("/ws").RequireRateLimiting("one");
            });

        // Act
        using var first = await server.ConnectAsync("alice", "/ws");
        var second = () => server.ConnectAsync("bob", "/ws");

        // Assert
        (await second.Should().ThrowAsync<WebSocketException>()).WithMessage("*503*");
        server.Factory.GetSnapshot().Rejected.Values.Should().AllSatisfy(v => v.Should().Be(0), "the rate limiter answered, not the pool");
    }

    [Fact]
    public async Task MapWebSocketPool_RequireCors_DoesNotStopAHandshakeAllowedOriginsDoes()
    {
        // Arrange: CORS allows only https://good.example; the pools decide origins themselves.
        await using var server = await PoolTestServer.StartAsync(
            services: s => s.AddCors(o => o.AddPolicy("good", p => p.WithOrigins("https://good.example"))),
            pipeline: app =>
            {
                app.UseCors();
                app.MapWebSocketPool<CoreTestHandler>("/any", "any", o => o.AllowedOrigins.Add("*")).RequireCors("good");
                app.MapWebSocketPool<CoreTestHandler>("/own", "own").RequireCors("good");
            });

        // Act
        using var admitted = await ConnectWithOriginAsync(server, "/any", "http://evil.example");
        using var refused = new ClientWebSocket();
        refused.Options.CollectHttpResponseDetails = true;
        refused.Options.SetRequestHeader("Origin", "http://evil.example");
        var connect = () => refused.ConnectAsync(server.WebSocketUri("alice", "/own"), CancellationToken.None);
        await connect.Should().ThrowAsync<WebSocketException>();

        // Assert
        admitted.State.Should().Be(WebSocketState.Open, "CORS does not refuse a WebSocket handshake");
        refused.HttpStatusCode.Should().Be(HttpStatusCode.Forbidden, "the pool's AllowedOrigins (same origin by default) does");
    }

    [Fact]
    public async Task MapWebSocketPool_RequireHost_OtherHostsFindNoEndpoint()
    {
        // Arrange
        await using var server = await PoolTestServer.StartAsync(
            pipeline: app => app.MapWebSocketPool<CoreTestHandler>("/ws").RequireHost("chat.example"));
        using var http = new HttpClient { BaseAddress = server.BaseUri };
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/ws?user=alice", UriKind.Relative));
        request.Headers.Host = "chat.example";

        // Act
        using var matching = await http.SendAsync(request);
        using var other = await http.GetAsync(new Uri("/ws?user=alice", UriKind.Relative));

        // Assert
        matching.StatusCode.Should().Be(HttpStatusCode.OK);
        other.StatusCode.Should().Be(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task MapWebSocketPool_WithMetadata_EndpointCarriesItAndThePoolName()
    {
        // Arrange
        WebSocketPoolEndpointConventionBuilder? mapped = null;
        await using var server = await PoolTestServer.StartAsync(
            pipeline: app => mapped = app.MapWebSocketPool<CoreTestHandler>("/ws/notify", "notify").WithMetadata(new MarkerMetadata()));

        // Act
        var endpoint = server.App.Services.GetRequiredService<EndpointDataSource>().Endpoints
            .OfType<RouteEndpoint>().Single(e => e.RoutePattern.RawText == "/ws/notify");

        // Assert
        mapped!.PoolName.Should().Be("notify");
        endpoint.Metadata.GetMetadata<MarkerMetadata>().Should().NotBeNull();
        endpoint.Metadata.GetMetadata<IHttpMethodMetadata>()!.HttpMethods.Should().BeEquivalentTo(["GET", "HEAD", "CONNECT"]);
    }

    [Theory]
    [InlineData(null, typeof(ArgumentNullException))]
    [InlineData("", typeof(ArgumentException))]
    [InlineData("default", typeof(ArgumentException))]
    [InlineData("Default", typeof(ArgumentException))]
    [InlineData("no spaces", typeof(ArgumentException))]
    [InlineData("a:b", typeof(ArgumentException))]
    public async Task MapWebSocketPool_BadPoolName_Throws(string? name, Type expected)
    {
        // Arrange
        await using var app = BuildApp();

        // Act
        var map = () => app.MapWebSocketPool<CoreTestHandler>("/ws/x", name!);

        // Assert
        map.Should().Throw<ArgumentException>().Which.Should().BeOfType(expected);
    }

    [Fact]
    public async Task MapWebSocketPool_SameNameTwice_ThrowsNamingThePool()
    {
        // Arrange
        await using var app = BuildApp();
        app.MapWebSocketPool<CoreTestHandler>("/ws/notify", "notify");

        // Act
        var again = () => app.MapWebSocketPool<CoreTestHandler>("/ws/other", "notify");

        // Assert
        again.Should().Throw<InvalidOperationException>().WithMessage("*'notify'*already mapped*");
    }

    [Fact]
    public async Task MapWebSocketPool_DefaultPoolTwiceOrAfterUseWebSocketPooling_Throws()
    {
        // Arrange
        await using var mapped = BuildApp();
        mapped.MapWebSocketPool<CoreTestHandler>("/ws");
        await using var used = BuildApp();
        used.UseWebSocketPooling();

        // Act
        var mapAgain = () => mapped.MapWebSocketPool<CoreTestHandler>("/ws2");
        var mapAfterUse = () => used.MapWebSocketPool<CoreTestHandler>("/ws");

        // Assert
        mapAgain.Should().Throw<InvalidOperationException>().WithMessage("*'default' is already served*");
        mapAfterUse.Should().Throw<InvalidOperationException>().WithMessage("*'default' is already served (MapWebSocketPool(\"/ws\")*");
    }

    [Fact]
    public async Task MapWebSocketPool_WithoutAddWebSocketPooling_Throws()
    {
        // Arrange
        var builder = WebApplication.CreateSlimBuilder();
        await using var app = builder.Build();

        // Act
        var map = () => app.MapWebSocketPool<CoreTestHandler>("/ws");

        // Assert
        map.Should().Throw<InvalidOperationException>().WithMessage("*AddWebSocketPooling*");
    }

    private static WebApplication BuildApp()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Services.AddWebSocketPooling();
        return builder.Build();
    }

    private static async Task<ClientWebSocket> ConnectAsync(PoolTestServer server, string path, string user)
    {
        var client = new ClientWebSocket();
        client.Options.KeepAliveInterval = TimeSpan.Zero;
        client.Options.SetRequestHeader(HeaderAuthenticationHandler.HeaderName, user);
        await client.ConnectAsync(server.WebSocketUri(user, path), CancellationToken.None);
        return client;
    }

    private static async Task<ClientWebSocket> ConnectWithOriginAsync(PoolTestServer server, string path, string origin)
    {
        var client = new ClientWebSocket();
        client.Options.KeepAliveInterval = TimeSpan.Zero;
        client.Options.SetRequestHeader("Origin", origin);
        await client.ConnectAsync(server.WebSocketUri("alice", path), CancellationToken.None);
        return client;
    }

    private static async Task<HttpStatusCode> RefusedStatusAsync(PoolTestServer server, string path, string? header)
    {
        using var client = new ClientWebSocket();
        client.Options.CollectHttpResponseDetails = true;
        if (header is not null)
        {
            client.Options.SetRequestHeader(HeaderAuthenticationHandler.HeaderName, header);
        }

        var connect = () => client.ConnectAsync(server.WebSocketUri(header ?? "anonymous", path), CancellationToken.None);
        await connect.Should().ThrowAsync<WebSocketException>();
        return client.HttpStatusCode;
    }

    private sealed class MarkerMetadata;

    /// <summary>Keys users per room: the route's <c>room</c> and the query's <c>user</c>.</summary>
    private sealed class RoomUserKeyResolver : IUserKeyResolver
    {
        public ValueTask<string?> ResolveUserKeyAsync(HttpContext context)
        {
            var room = context.Request.RouteValues["room"] as string;
            var user = context.Request.Query["user"].ToString();
            return new(room is null || user.Length == 0 ? null : room + "/" + user);
        }
    }
}

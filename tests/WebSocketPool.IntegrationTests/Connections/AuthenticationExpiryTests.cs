// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Globalization;
using System.Net;
using System.Net.WebSockets;
using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using WebSocketPool.IntegrationTests.Infrastructure;
using WebSocketPool.Internal;

namespace WebSocketPool.IntegrationTests.Connections;

/// <summary>
/// <see cref="WebSocketPoolOptions.CloseOnAuthenticationExpiration"/>: a socket must not outlive the authentication it
/// was opened with. A real cookie scheme issues a ticket that expires in five minutes; time is a
/// <see cref="FakeTimeProvider"/> shared by the cookie handler and the pool, advanced by the test.
/// </summary>
public sealed class AuthenticationExpiryTests
{
    private static readonly TimeSpan s_ticketLifetime = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Connection_CookieTicketExpires_ClosedWith4005AndSlotReleased()
    {
        // Arrange
        var time = new FakeTimeProvider();
        await using var server = await StartCookieServerAsync(time, closeOnExpiration: true);
        using var cookies = await SignInAsync(server, "alice");
        using var socket = await ConnectAsync(server, cookies);
        await PoolTestServer.WaitUntilAsync(() => server.Factory.GetConnectionCount("alice") == 1, s_deadline, "the connection is open");

        // Act: a second before the ticket expires nothing happens; at the expiry the connection is closed.
        time.Advance(s_ticketLifetime - TimeSpan.FromSeconds(1));
        await socket.SendTextAsync("before expiry");
        var echo = await socket.ReceiveTextAsync();
        time.Advance(TimeSpan.FromSeconds(1));
        var code = await socket.ReceiveCloseAsync();

        // Assert
        echo.Should().Be("before expiry");
        code.Should().Be(WebSocketCloseCodes.AuthenticationExpired);
        socket.CloseStatusDescription.Should().Be("Authentication expired.");
        await PoolTestServer.WaitUntilAsync(
            () => server.Factory.GetConnectionCount("alice") == 0 && server.Factory.ActiveConnections == 0,
            s_deadline,
            "the slot is released");
        var handler = server.App.Services.GetRequiredService<CoreTestHandler>();
        await PoolTestServer.WaitUntilAsync(() => !handler.Disconnected.IsEmpty, s_deadline, "the handler hears of the end");
        handler.Disconnected.Single().Disconnect.Should().Be(new WebSocketDisconnect(DisconnectReason.AuthenticationExpired, WebSocketCloseCodes.AuthenticationExpired, null));
    }

    [Fact]
    public async Task Connection_OptionOff_OutlivesTicketAndHasNoTimer()
    {
        // Arrange
        var time = new FakeTimeProvider();
        await using var server = await StartCookieServerAsync(time, closeOnExpiration: false);
        using var cookies = await SignInAsync(server, "bob");
        using var socket = await ConnectAsync(server, cookies);
        await PoolTestServer.WaitUntilAsync(() => server.Factory.GetConnectionCount("bob") == 1, s_deadline, "the connection is open");

        // Act
        time.Advance(s_ticketLifetime * 3);
        await socket.SendTextAsync("after expiry");

        // Assert: the default keeps the old behaviour.
        (await socket.ReceiveTextAsync()).Should().Be("after expiry");
        server.Factory.OpenConnections.Values.Single().HasDeadlineTimer.Should().BeFalse("nothing was armed for it");
    }

    [Fact]
    public async Task Connection_AuthenticationWithoutExpiry_GetsNoTimer()
    {
        // Arrange: the option is on, but the scheme sets no expiry: 200 idle connections must not gain a timer each.
        await using var server = await PoolTestServer.StartAsync(
            o =>
            {
                o.CloseOnAuthenticationExpiration = true;
                o.KeepAliveInterval = TimeSpan.Zero;
                o.MaxConnectionsPerUser = 200;
            },
            pool: p => p.AddHandler<CoreTestHandler>().AddUserKeyResolver<DefaultUserKeyResolver>(),
            services: s => s.AddAuthentication(HeaderAuthenticationHandler.SchemeName)
                .AddScheme<AuthenticationSchemeOptions, HeaderAuthenticationHandler>(HeaderAuthenticationHandler.SchemeName, null),
            pipeline: app =>
            {
                app.UseAuthentication();
                app.UseWebSocketPooling();
            });
        var sockets = new List<ClientWebSocket>();
        try
        {
            // Act
            for (var i = 0; i < 200; i++)
            {
                var socket = new ClientWebSocket();
                sockets.Add(socket);
                socket.Options.SetRequestHeader(HeaderAuthenticationHandler.HeaderName, "carol");
                await socket.ConnectAsync(server.WebSocketUri("ignored"), CancellationToken.None);
            }

            await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == 200, s_deadline, "every connection is open");

            // Assert
            server.Factory.OpenConnections.Values.Count(m => m.HasDeadlineTimer).Should().Be(0);
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
    public async Task Connect_AuthenticationAlreadyExpired_Refused401BeforeUpgrade()
    {
        // Arrange: a scheme that accepts a credential past its expiry (as a bearer handler does within its clock skew).
        await using var server = await PoolTestServer.StartAsync(
            o => o.CloseOnAuthenticationExpiration = true,
            pool: p => p.AddHandler<CoreTestHandler>().AddUserKeyResolver<DefaultUserKeyResolver>(),
            services: s => s.AddAuthentication(HeaderAuthenticationHandler.SchemeName)
                .AddScheme<AuthenticationSchemeOptions, HeaderAuthenticationHandler>(HeaderAuthenticationHandler.SchemeName, null),
            pipeline: app =>
            {
                app.UseAuthentication();
                app.UseWebSocketPooling();
            });
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        socket.Options.SetRequestHeader(HeaderAuthenticationHandler.HeaderName, "dave");
        socket.Options.SetRequestHeader(HeaderAuthenticationHandler.ExpiresHeaderName, DateTimeOffset.UtcNow.AddMinutes(-1).ToString("O", CultureInfo.InvariantCulture));

        // Act
        var connect = () => socket.ConnectAsync(server.WebSocketUri("ignored"), CancellationToken.None);

        // Assert
        await connect.Should().ThrowAsync<WebSocketException>();
        socket.HttpStatusCode.Should().Be(HttpStatusCode.Unauthorized);
        server.Factory.ActiveConnections.Should().Be(0);
    }

    private static Task<PoolTestServer> StartCookieServerAsync(FakeTimeProvider time, bool closeOnExpiration) =>
        PoolTestServer.StartAsync(
            o =>
            {
                o.CloseOnAuthenticationExpiration = closeOnExpiration;
                o.KeepAliveInterval = TimeSpan.Zero;
            },
            pool: p => p.AddHandler<CoreTestHandler>().AddUserKeyResolver<DefaultUserKeyResolver>(),
            services: s =>
            {
                s.AddSingleton<TimeProvider>(time);
                s.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme).AddCookie(o =>
                {
                    o.ExpireTimeSpan = s_ticketLifetime;
                    o.SlidingExpiration = false;
                    o.Events.OnRedirectToLogin = static context =>
                    {
                        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                        return Task.CompletedTask;
                    };
                });
            },
            pipeline: app =>
            {
                app.UseAuthentication();
                app.UseWebSocketPooling();
                app.MapPost("/signin/{user}", static async (HttpContext context, string user) =>
                {
                    var identity = new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, user)], CookieAuthenticationDefaults.AuthenticationScheme);
                    await context.SignInAsync(new ClaimsPrincipal(identity));
                    return Results.NoContent();
                });
            });

    private static async Task<CookieJar> SignInAsync(PoolTestServer server, string user)
    {
        var jar = new CookieJar(server.BaseUri);
        using var response = await jar.Http.PostAsync(new Uri($"/signin/{user}", UriKind.Relative), content: null);
        response.StatusCode.Should().Be(HttpStatusCode.NoContent);
        jar.Cookies.Count.Should().Be(1, "the sign-in set the auth cookie");
        return jar;
    }

    private static async Task<ClientWebSocket> ConnectAsync(PoolTestServer server, CookieJar jar)
    {
        var socket = new ClientWebSocket();
        socket.Options.Cookies = jar.Cookies;
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        using var timeout = new CancellationTokenSource(s_deadline);
        await socket.ConnectAsync(server.WebSocketUri("ignored"), timeout.Token);
        return socket;
    }

    private sealed class CookieJar : IDisposable
    {
        public CookieJar(Uri baseUri)
        {
            Http = new HttpClient(new HttpClientHandler { CookieContainer = Cookies, UseCookies = true }) { BaseAddress = baseUri };
        }

        public CookieContainer Cookies { get; } = new();

        public HttpClient Http { get; }

        public void Dispose() => Http.Dispose();
    }
}

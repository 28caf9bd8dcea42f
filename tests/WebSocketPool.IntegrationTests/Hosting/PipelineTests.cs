// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using WebSocketPool.IntegrationTests.Connections;
using WebSocketPool.IntegrationTests.Infrastructure;
using WebSocketPool.Internal;

namespace WebSocketPool.IntegrationTests.Hosting;

/// <summary>How an app wires the pool: <c>UseWebSocketPooling()</c> on real Kestrel, after <c>UseAuthentication()</c>.</summary>
public sealed class PipelineTests
{
    [Fact]
    public async Task UseWebSocketPooling_AppNeverCallsUseWebSockets_UpgradesOnRealKestrel()
    {
        // The pipeline is exactly this one call: no app.UseWebSockets() anywhere.
        await using var server = await PoolTestServer.StartAsync(
            pool: p => p.AddHandler<CoreTestHandler>(),
            pipeline: app => app.UseWebSocketPooling());

        using var client = await server.ConnectAsync("alice");
        await client.SendTextAsync("hello");

        (await client.ReceiveTextAsync()).Should().Be("hello");
        server.Factory.GetConnectionCount("alice").Should().Be(1);
        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await Conditions.WaitAsync(() => server.Factory.ActiveConnections == 0, TimeSpan.FromSeconds(10), "the lease is released");
    }

    [Fact]
    public async Task PoolMiddleware_WithoutWebSocketsSupport_KestrelOffersNoUpgrade()
    {
        // The contrast that makes the test above meaningful: on Kestrel, the pool's middleware alone (without the
        // WebSockets support UseWebSocketPooling switches on) never sees a WebSocket request; it answers the plain
        // GET preview instead, so the client's handshake fails with 200.
        await using var server = await PoolTestServer.StartAsync(
            pool: p => p.AddHandler<CoreTestHandler>(),
            pipeline: app =>
            {
                var pool = app.Services.GetRequiredService<WebSocketPoolRegistry>().Default;
                pool.Serve(app.Services.GetRequiredService<WebSocketHandler>(), "the test's pipeline");
                app.Use(next => new WebSocketPoolingMiddleware(next, pool, new PathString(pool.Options.Path), app.Services).InvokeAsync);
            });
        using var client = new ClientWebSocket();
        client.Options.CollectHttpResponseDetails = true;

        var connect = () => client.ConnectAsync(server.WebSocketUri("alice"), CancellationToken.None);

        await connect.Should().ThrowAsync<WebSocketException>();
        client.HttpStatusCode.Should().Be(HttpStatusCode.OK);
        server.Factory.ActiveConnections.Should().Be(0);
    }

    [Fact]
    public async Task UseWebSocketPooling_WithoutAddWebSocketPooling_ThrowsInvalidOperationException()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        await using var app = builder.Build();

        var use = () => app.UseWebSocketPooling();

        use.Should().Throw<InvalidOperationException>().WithMessage("*AddWebSocketPooling*");
    }

    [Fact]
    public async Task UseWebSocketPooling_AfterUseAuthentication_KeysByAuthenticatedUserAndRefusesAnonymous()
    {
        await using var server = await PoolTestServer.StartAsync(
            pool: p => p.AddHandler<CoreTestHandler>().AddUserKeyResolver<DefaultUserKeyResolver>(),
            services: s => s.AddAuthentication(HeaderAuthenticationHandler.SchemeName)
                .AddScheme<AuthenticationSchemeOptions, HeaderAuthenticationHandler>(HeaderAuthenticationHandler.SchemeName, null),
            pipeline: app =>
            {
                app.UseAuthentication();
                app.UseWebSocketPooling();
            });

        using var authenticated = new ClientWebSocket();
        authenticated.Options.SetRequestHeader(HeaderAuthenticationHandler.HeaderName, "alice");
        await authenticated.ConnectAsync(server.WebSocketUri("ignored-by-this-resolver"), CancellationToken.None);
        server.Factory.GetConnectionCount("alice").Should().Be(1);

        using var anonymous = new ClientWebSocket();
        anonymous.Options.CollectHttpResponseDetails = true;
        var connect = () => anonymous.ConnectAsync(server.WebSocketUri("ignored-by-this-resolver"), CancellationToken.None);
        await connect.Should().ThrowAsync<WebSocketException>();
        anonymous.HttpStatusCode.Should().Be(HttpStatusCode.Unauthorized);
        server.Factory.ActiveConnections.Should().Be(1);

        await authenticated.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await Conditions.WaitAsync(() => server.Factory.ActiveConnections == 0, TimeSpan.FromSeconds(10), "the lease is released");
    }

    [Fact]
    public async Task AllowAnonymous_NoUser_KeysByRemoteAddress()
    {
        await using var server = await PoolTestServer.StartAsync(
            o => o.AllowAnonymous = true,
            pool: p => p.AddHandler<CoreTestHandler>().AddUserKeyResolver<DefaultUserKeyResolver>());

        using var client = await server.ConnectAsync("ignored-by-this-resolver");

        server.Factory.GetConnectionCount("127.0.0.1").Should().Be(1);
        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await Conditions.WaitAsync(() => server.Factory.ActiveConnections == 0, TimeSpan.FromSeconds(10), "the lease is released");
    }
}

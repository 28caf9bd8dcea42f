// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using WebSocketPool.IntegrationTests.Infrastructure;
using WebSocketPool.IntegrationTests.Messaging;
using WebSocketPool.Internal;

namespace WebSocketPool.IntegrationTests.Connections;

/// <summary>
/// A handler reaches the request that opened its connection (user, address, query, route values, the HttpContext) while
/// the connection lives, and a handle kept past its lease never sees the next user's request on the same pooled manager.
/// </summary>
public sealed class RequestContextTests
{
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Connection_AuthenticatedUpgrade_ExposesUserAddressQueryAndHttpContextAndItemsFromOnConnecting()
    {
        // Arrange
        await using var server = await PoolTestServer.StartAsync(
            pool: p => p.AddHandler<RequestEchoHandler>().AddUserKeyResolver<DefaultUserKeyResolver>(),
            services: s => s.AddAuthentication(HeaderAuthenticationHandler.SchemeName)
                .AddScheme<AuthenticationSchemeOptions, HeaderAuthenticationHandler>(HeaderAuthenticationHandler.SchemeName, null),
            pipeline: app =>
            {
                app.UseAuthentication();
                app.UseWebSocketPooling();
            });
        using var client = new ClientWebSocket();
        client.Options.SetRequestHeader(HeaderAuthenticationHandler.HeaderName, "alice");
        client.Options.SetRequestHeader("X-Client", "tests");

        // Act
        await client.ConnectAsync(new Uri(server.BaseUri.ToString().Replace("http", "ws", StringComparison.Ordinal) + "ws?room=lobby"), CancellationToken.None);
        using var hello = JsonDocument.Parse(await client.ReceiveTextAsync(s_deadline));

        // Assert
        var root = hello.RootElement;
        root.GetProperty("user").GetString().Should().Be("alice", "User is the principal authentication set on the upgrade");
        root.GetProperty("authenticated").GetBoolean().Should().BeTrue();
        root.GetProperty("address").GetString().Should().Be("127.0.0.1");
        root.GetProperty("room").GetString().Should().Be("lobby");
        root.GetProperty("header").GetString().Should().Be("tests", "the HttpContext is reachable while the connection lives");
        root.GetProperty("routeValues").GetInt32().Should().Be(0, "the middleware's fixed path has no route values");
        root.GetProperty("subProtocol").ValueKind.Should().Be(JsonValueKind.Null);
        root.GetProperty("fromConnecting").GetString().Should().Be("alice@lobby", "OnConnectingAsync filled Items before OnConnectedAsync");

        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await Conditions.WaitAsync(() => server.Factory.ActiveConnections == 0 && server.Factory.OpenConnectionCount == 0, s_deadline, "the lease is released");
    }

    [Fact]
    public async Task RequestContext_HandleKeptPastItsLeaseWhileTheManagerServesAnotherUser_NeverSeesTheNextRequest()
    {
        // Arrange: no reuse window and a shared pool of one, so bob's connection gets exactly alice's old manager.
        await using var server = await PoolTestServer.StartAsync(
            o =>
            {
                o.ReuseWindow = TimeSpan.Zero;
                o.MaxPooledManagers = 1;
            },
            pool: p => p.AddHandler<RequestEchoHandler>());
        var handler = server.App.Services.GetRequiredService<RequestEchoHandler>();
        using (var alice = await server.ConnectAsync("alice"))
        {
            await alice.ReceiveTextAsync(s_deadline);
            await alice.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        }

        await Conditions.WaitAsync(
            () => server.Factory.ActiveConnections == 0 && server.Factory.OpenConnectionCount == 0 && server.Factory.PooledCount == 1,
            s_deadline,
            "alice's lease ended and her manager is pooled");
        var stale = handler.Handles["alice"];
        handler.SeenAfterDisconnect.Should().ContainKey("alice", "the request is still reachable in OnDisconnectedAsync");
        handler.SeenAfterDisconnect["alice"].Should().Be("alice");

        // Act
        using var bob = await server.ConnectAsync("bob");
        await bob.ReceiveTextAsync(s_deadline);
        var current = handler.Handles["bob"];
        server.Factory.TryGetManager(current.ConnectionId, out var bobManager, out _).Should().BeTrue();

        // Assert: nothing of bob's request is reachable through alice's handle.
        stale.GetHttpContext().Should().BeNull();
        ((Func<object>)(() => stale.User)).Should().Throw<InvalidOperationException>().WithMessage("*stale*");
        ((Func<object>)(() => stale.Query)).Should().Throw<InvalidOperationException>().WithMessage("*stale*");
        ((Func<object?>)(() => stale.RemoteIpAddress)).Should().Throw<InvalidOperationException>().WithMessage("*stale*");
        ((Func<object>)(() => stale.RouteValues)).Should().Throw<InvalidOperationException>().WithMessage("*stale*");
        ((Func<object?>)(() => stale.SubProtocol)).Should().Throw<InvalidOperationException>().WithMessage("*stale*");
        current.Query["user"].ToString().Should().Be("bob");
        current.GetHttpContext()!.Request.Query["user"].ToString().Should().Be("bob");
        bobManager.HasRequest.Should().BeTrue();

        await bob.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await Conditions.WaitAsync(() => server.Factory.ActiveConnections == 0 && server.Factory.PooledCount == 1, s_deadline, "bob's lease ended");
        bobManager.HasRequest.Should().BeFalse("the reset clears every request reference");
        current.GetHttpContext().Should().BeNull();
    }

    /// <summary>Answers each connection with what it can see of its request.</summary>
    internal sealed class RequestEchoHandler : WebSocketHandler
    {
        public ConcurrentDictionary<string, WebSocketConnection> Handles { get; } = new();

        public ConcurrentDictionary<string, string?> SeenAfterDisconnect { get; } = new();

        public override ValueTask OnConnectingAsync(WebSocketConnection connection, CancellationToken cancellationToken)
        {
            connection.Items["fromConnecting"] = $"{connection.User.FindFirstValue(ClaimTypes.NameIdentifier)}@{connection.Query["room"]}";
            return default;
        }

        public override ValueTask OnConnectedAsync(WebSocketConnection connection, CancellationToken cancellationToken)
        {
            Handles[connection.UserKey] = connection;
            connection.SendText(JsonSerializer.Serialize(new
            {
                user = connection.User.FindFirstValue(ClaimTypes.NameIdentifier),
                authenticated = connection.User.Identity?.IsAuthenticated ?? false,
                address = connection.RemoteIpAddress?.ToString(),
                room = connection.Query["room"].ToString(),
                header = connection.GetHttpContext()?.Request.Headers["X-Client"].ToString(),
                routeValues = connection.RouteValues.Count,
                subProtocol = connection.SubProtocol,
                fromConnecting = connection.Items["fromConnecting"],
            }));
            return default;
        }

        public override ValueTask OnDisconnectedAsync(WebSocketConnection connection, WebSocketDisconnect disconnect)
        {
            SeenAfterDisconnect[connection.UserKey] = connection.Query["user"].ToString();
            return default;
        }
    }
}

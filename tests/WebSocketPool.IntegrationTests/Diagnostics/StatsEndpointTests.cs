// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using WebSocketPool.IntegrationTests.Infrastructure;

namespace WebSocketPool.IntegrationTests.Diagnostics;

/// <summary>
/// <c>MapWebSocketPoolStats</c> names users, so it is safe by default: loopback callers only (a missing remote address
/// is not loopback) until the app attaches its own authorization, and never cached.
/// </summary>
public sealed class StatsEndpointTests
{
    private const string RemoteHeader = "X-Test-Remote";

    [Fact]
    public async Task Stats_LoopbackCaller_AnswersTheSnapshotWithNoStore()
    {
        // Arrange
        await using var server = await StartAsync(stats => stats);
        using var http = new HttpClient { BaseAddress = server.BaseUri };

        // Act
        using var response = await http.GetAsync(new Uri("/stats", UriKind.Relative));

        // Assert
        response.StatusCode.Should().Be(HttpStatusCode.OK);
        response.Headers.CacheControl!.NoStore.Should().BeTrue();
        (await response.Content.ReadAsStringAsync()).Should().Contain("\"activeConnections\":0");
    }

    [Theory]
    [InlineData("203.0.113.7")]
    [InlineData("none")]
    public async Task Stats_RemoteOrUnknownCaller_404ByDefault(string remote)
    {
        // Arrange: the caller's address as a forwarded-headers middleware or a Unix socket would leave it
        await using var server = await StartAsync(stats => stats);
        using var http = new HttpClient { BaseAddress = server.BaseUri };
        http.DefaultRequestHeaders.Add(RemoteHeader, remote);

        // Act
        using var response = await http.GetAsync(new Uri("/stats", UriKind.Relative));

        // Assert
        response.StatusCode.Should().Be(HttpStatusCode.NotFound);
        (await response.Content.ReadAsStringAsync()).Should().NotContain("activeConnections");
    }

    [Fact]
    public async Task Stats_AppAttachedAuthorization_RemoteCallersDecidedByItInstead()
    {
        // Arrange
        await using var server = await StartAsync(stats => stats.RequireAuthorization());
        using var anonymous = new HttpClient { BaseAddress = server.BaseUri };
        anonymous.DefaultRequestHeaders.Add(RemoteHeader, "203.0.113.7");
        using var signedIn = new HttpClient { BaseAddress = server.BaseUri };
        signedIn.DefaultRequestHeaders.Add(RemoteHeader, "203.0.113.7");
        signedIn.DefaultRequestHeaders.Add(HeaderAuthenticationHandler.HeaderName, "operator");

        // Act
        using var refused = await anonymous.GetAsync(new Uri("/stats", UriKind.Relative));
        using var allowed = await signedIn.GetAsync(new Uri("/stats", UriKind.Relative));

        // Assert
        refused.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        allowed.StatusCode.Should().Be(HttpStatusCode.OK);
        allowed.Headers.CacheControl!.NoStore.Should().BeTrue();
    }

    private static Task<PoolTestServer> StartAsync(Func<IEndpointConventionBuilder, IEndpointConventionBuilder> stats) =>
        PoolTestServer.StartAsync(
            services: s =>
            {
                s.AddAuthentication(HeaderAuthenticationHandler.SchemeName)
                    .AddScheme<AuthenticationSchemeOptions, HeaderAuthenticationHandler>(HeaderAuthenticationHandler.SchemeName, null);
                s.AddAuthorization();
            },
            pipeline: app =>
            {
                // Test-only stand-in for UseForwardedHeaders (or a Unix socket): the caller's address from a header.
                app.Use((context, next) =>
                {
                    if (context.Request.Headers[RemoteHeader].ToString() is { Length: > 0 } remote)
                    {
                        context.Connection.RemoteIpAddress = remote == "none" ? null : IPAddress.Parse(remote);
                    }

                    return next(context);
                });
                app.UseAuthentication();
                app.UseAuthorization();
                app.UseWebSocketPooling();
                stats(app.MapWebSocketPoolStats());
            });
}

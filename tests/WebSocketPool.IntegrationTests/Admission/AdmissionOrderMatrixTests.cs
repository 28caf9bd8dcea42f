// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using WebSocketPool.Internal;
using WebSocketPool.IntegrationTests.Infrastructure;

namespace WebSocketPool.IntegrationTests.Admission;

/// <summary>
/// The admission order, draining &gt; origin &gt; unauthenticated &gt; subprotocol &gt; ip_rate_limited &gt; ip_limit &gt; rate_limited &gt;
/// global_limit &gt; user_limit, checked
/// pair by adjacent pair: each request fails both checks of its pair, and the earlier check's status and problem
/// <c>reason</c>/<c>type</c> must win (and only the winner is counted as the rejection reason). Users are authenticated
/// for real, by the <c>X-Test-User</c> header and the default claims resolver, so "no user" means no authenticated user.
/// </summary>
public sealed class AdmissionOrderMatrixTests : IDisposable
{
    private const string DisallowedOrigin = "http://evil.example";

    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };

    public void Dispose() => _http.Dispose();

    [Fact]
    public async Task Upgrade_DrainingAndDisallowedOrigin_Returns503Draining()
    {
        await using var server = await StartAsync();
        server.Factory.BeginDrain();

        using var response = await UpgradeAsync(server, "alice", origin: DisallowedOrigin);

        await UpgradeProbe.AssertRefusedAsync(response, HttpStatusCode.ServiceUnavailable, RejectionReasons.Draining);
        response.Headers.RetryAfter!.Delta.Should().BePositive();
        AssertRejectedOnlyAs(server, RejectionReasons.Draining, RejectionReasons.Origin);
    }

    [Fact]
    public async Task Upgrade_DisallowedOriginAndNoUser_Returns403Origin()
    {
        await using var server = await StartAsync();

        using var response = await UpgradeAsync(server, user: null, origin: DisallowedOrigin);

        await UpgradeProbe.AssertRefusedAsync(response, HttpStatusCode.Forbidden, RejectionReasons.Origin);
        AssertRejectedOnlyAs(server, RejectionReasons.Origin, RejectionReasons.Unauthenticated);
    }

    /// <summary>The connect rate is counted per user, so a request without one cannot be rate limited: it gets 401.</summary>
    [Fact]
    public async Task Upgrade_NoUserWhileConnectRateLimitIsOn_Returns401NeverRateLimited()
    {
        await using var server = await StartAsync(
            o =>
            {
                o.ConnectRateLimit = 1;
                o.ConnectRateBurst = 1;
            },
            new FakeTimeProvider(DateTimeOffset.UtcNow));
        using var alice = await ConnectAsync(server, "alice");
        using (var limited = await UpgradeAsync(server, "alice"))
        {
            await UpgradeProbe.AssertRefusedAsync(limited, HttpStatusCode.TooManyRequests, RejectionReasons.RateLimited);
        }

        for (var i = 0; i < 3; i++)
        {
            using var response = await UpgradeAsync(server, user: null);

            await UpgradeProbe.AssertRefusedAsync(response, HttpStatusCode.Unauthorized, RejectionReasons.Unauthenticated);
        }

        server.Factory.GetSnapshot(0).Rejected[RejectionReasons.Unauthenticated].Should().Be(3);
        server.Factory.GetSnapshot(0).Rejected[RejectionReasons.RateLimited].Should().Be(1, "only alice's own second attempt was rate limited");
    }

    /// <summary>The per-IP checks come after authentication: a request without a user spends no token of its address.</summary>
    [Fact]
    public async Task Upgrade_NoUserWhilePerIPRateLimitIsOn_Returns401AndSpendsNoToken()
    {
        await using var server = await StartAsync(
            o =>
            {
                o.ConnectRateLimitPerIP = 1;
                o.ConnectRateBurstPerIP = 1;
            },
            new FakeTimeProvider(DateTimeOffset.UtcNow));

        for (var i = 0; i < 3; i++)
        {
            using var response = await UpgradeAsync(server, user: null);

            await UpgradeProbe.AssertRefusedAsync(response, HttpStatusCode.Unauthorized, RejectionReasons.Unauthenticated);
        }

        // The address's single token is still there.
        using var alice = await ConnectAsync(server, "alice");
        server.Factory.GetSnapshot(0).Rejected[RejectionReasons.Unauthenticated].Should().Be(3);
        server.Factory.GetSnapshot(0).Rejected[RejectionReasons.IPRateLimited].Should().Be(0);
    }

    [Fact]
    public async Task Upgrade_NoUserAndUnspokenSubProtocol_Returns401Unauthenticated()
    {
        await using var server = await StartAsync(o => o.SubProtocols.Add("json"));

        using var response = await UpgradeAsync(server, user: null, subProtocol: "mqtt");

        await UpgradeProbe.AssertRefusedAsync(response, HttpStatusCode.Unauthorized, RejectionReasons.Unauthenticated);
        AssertRejectedOnlyAs(server, RejectionReasons.Unauthenticated, RejectionReasons.SubProtocol);
    }

    [Fact]
    public async Task Upgrade_UnspokenSubProtocolAndIPRateLimited_Returns400SubProtocol()
    {
        await using var server = await StartAsync(
            o =>
            {
                o.SubProtocols.Add("json");
                o.ConnectRateLimitPerIP = 1;
                o.ConnectRateBurstPerIP = 1;
            },
            new FakeTimeProvider(DateTimeOffset.UtcNow));
        using var alice = await ConnectAsync(server, "alice");

        using var response = await UpgradeAsync(server, "bob", subProtocol: "mqtt");

        await UpgradeProbe.AssertRefusedAsync(response, HttpStatusCode.BadRequest, RejectionReasons.SubProtocol);
        response.Headers.RetryAfter.Should().BeNull();
        AssertRejectedOnlyAs(server, RejectionReasons.SubProtocol, RejectionReasons.IPRateLimited);
    }

    [Fact]
    public async Task Upgrade_IPRateLimitedAndIPLimitReached_Returns429IPRateLimited()
    {
        await using var server = await StartAsync(
            o =>
            {
                o.MaxConnectionsPerIP = 1;
                o.ConnectRateLimitPerIP = 1;
                o.ConnectRateBurstPerIP = 1;
            },
            new FakeTimeProvider(DateTimeOffset.UtcNow));
        using var alice = await ConnectAsync(server, "alice");

        using var response = await UpgradeAsync(server, "bob");

        var body = await UpgradeProbe.AssertRefusedAsync(response, HttpStatusCode.TooManyRequests, RejectionReasons.IPRateLimited);
        body.GetProperty("limit").GetInt32().Should().Be(1);
        body.GetProperty("current").GetInt32().Should().Be(1);
        response.Headers.RetryAfter!.Delta.Should().Be(TimeSpan.FromSeconds(1));
        AssertRejectedOnlyAs(server, RejectionReasons.IPRateLimited, RejectionReasons.IPLimit);
    }

    [Fact]
    public async Task Upgrade_IPLimitAndUserRateLimitedAndGlobalCapReached_Returns429IPLimit()
    {
        await using var server = await StartAsync(
            o =>
            {
                o.MaxConnections = 1;
                o.MaxConnectionsPerUser = 1;
                o.MaxConnectionsPerIP = 1;
                o.ConnectRateLimit = 1;
                o.ConnectRateBurst = 1;
            },
            new FakeTimeProvider(DateTimeOffset.UtcNow));
        using var alice = await ConnectAsync(server, "alice");

        using var response = await UpgradeAsync(server, "alice");

        var body = await UpgradeProbe.AssertRefusedAsync(response, HttpStatusCode.TooManyRequests, RejectionReasons.IPLimit);
        body.GetProperty("limit").GetInt32().Should().Be(1);
        body.GetProperty("current").GetInt32().Should().Be(1);
        response.Headers.RetryAfter!.Delta.Should().BePositive();
        AssertRejectedOnlyAs(server, RejectionReasons.IPLimit, RejectionReasons.RateLimited, RejectionReasons.GlobalLimit, RejectionReasons.UserLimit);
    }

    /// <summary>The per-IP cap comes before the user's connect rate: a refusal by it spends none of the user's tokens.</summary>
    [Fact]
    public async Task Upgrade_RefusedByIPLimit_SpendsNoneOfTheUsersConnectTokens()
    {
        await using var server = await StartAsync(
            o =>
            {
                o.MaxConnectionsPerIP = 1;
                o.ConnectRateLimit = 1;
                o.ConnectRateBurst = 2;
            },
            new FakeTimeProvider(DateTimeOffset.UtcNow));
        var alice = await ConnectAsync(server, "alice");
        for (var i = 0; i < 3; i++)
        {
            using var response = await UpgradeAsync(server, "alice");
            await UpgradeProbe.AssertRefusedAsync(response, HttpStatusCode.TooManyRequests, RejectionReasons.IPLimit);
        }

        await alice.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        alice.Dispose();
        await PoolTestServer.WaitUntilAsync(() => server.Factory.ActiveConnections == 0, TimeSpan.FromSeconds(10), "alice's connection is released");

        // The clock has not moved: the second token of her burst is still there.
        using var again = await ConnectAsync(server, "alice");
        server.Factory.GetSnapshot(0).Rejected[RejectionReasons.RateLimited].Should().Be(0);
    }

    [Fact]
    public async Task Upgrade_RateLimitedAndGlobalCapReached_Returns429RateLimited()
    {
        // One token, one slot: alice's first connection spends her token and fills the node (and her own limit).
        await using var server = await StartAsync(
            o =>
            {
                o.MaxConnections = 1;
                o.MaxConnectionsPerUser = 1;
                o.ConnectRateLimit = 1;
                o.ConnectRateBurst = 1;
            },
            new FakeTimeProvider(DateTimeOffset.UtcNow));
        using var alice = await ConnectAsync(server, "alice");

        using var response = await UpgradeAsync(server, "alice");

        await UpgradeProbe.AssertRefusedAsync(response, HttpStatusCode.TooManyRequests, RejectionReasons.RateLimited);
        response.Headers.RetryAfter!.Delta.Should().BePositive();
        AssertRejectedOnlyAs(server, RejectionReasons.RateLimited, RejectionReasons.GlobalLimit, RejectionReasons.UserLimit);
        server.Factory.GetConnectionCount("alice").Should().Be(1);
    }

    [Fact]
    public async Task Upgrade_GlobalCapAndUserLimitReached_Returns503GlobalLimit()
    {
        await using var server = await StartAsync(o =>
        {
            o.MaxConnections = 2;
            o.MaxConnectionsPerUser = 1;
        });
        using var alice = await ConnectAsync(server, "alice");
        using var bob = await ConnectAsync(server, "bob");

        using var response = await UpgradeAsync(server, "alice");

        var body = await UpgradeProbe.AssertRefusedAsync(response, HttpStatusCode.ServiceUnavailable, RejectionReasons.GlobalLimit);
        body.GetProperty("limit").GetInt32().Should().Be(2, "the limit named is the node's, not alice's");
        body.GetProperty("current").GetInt32().Should().Be(2);
        response.Headers.RetryAfter!.Delta.Should().BePositive();
        AssertRejectedOnlyAs(server, RejectionReasons.GlobalLimit, RejectionReasons.UserLimit);
        server.Factory.ActiveConnections.Should().Be(2);
    }

    private static Task<PoolTestServer> StartAsync(Action<WebSocketPoolOptions>? configure = null, TimeProvider? time = null) =>
        PoolTestServer.StartAsync(
            configure,
            pool: p => p.AddHandler<CoreTestHandler>().AddUserKeyResolver<DefaultUserKeyResolver>(),
            services: s =>
            {
                s.AddAuthentication(HeaderAuthenticationHandler.SchemeName)
                    .AddScheme<AuthenticationSchemeOptions, HeaderAuthenticationHandler>(HeaderAuthenticationHandler.SchemeName, null);
                if (time is not null)
                {
                    s.AddSingleton(time);
                }
            },
            pipeline: app =>
            {
                app.UseAuthentication();
                app.UseWebSocketPooling();
            });

    private static async Task<ClientWebSocket> ConnectAsync(PoolTestServer server, string user)
    {
        var client = new ClientWebSocket();
        try
        {
            client.Options.KeepAliveInterval = TimeSpan.Zero;
            client.Options.SetRequestHeader(HeaderAuthenticationHandler.HeaderName, user);
            await client.ConnectAsync(server.WebSocketUri("ignored-by-this-resolver"), CancellationToken.None);
            return client;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    private Task<HttpResponseMessage> UpgradeAsync(PoolTestServer server, string? user, string? origin = null, string? subProtocol = null)
    {
        var headers = new List<(string, string)>();
        if (subProtocol is not null)
        {
            headers.Add(("Sec-WebSocket-Protocol", subProtocol));
        }

        if (user is not null)
        {
            headers.Add((HeaderAuthenticationHandler.HeaderName, user));
        }

        if (origin is not null)
        {
            headers.Add(("Origin", origin));
        }

        return UpgradeProbe.SendAsync(_http, UpgradeProbe.PoolUri(server.BaseUri), [.. headers]);
    }

    /// <summary>The one refusal was counted under the winning check's reason, and under none of the losers'.</summary>
    private static void AssertRejectedOnlyAs(PoolTestServer server, string winner, params string[] losers)
    {
        var rejected = server.Factory.GetSnapshot(0).Rejected;
        rejected.GetValueOrDefault(winner).Should().Be(1);
        foreach (var loser in losers)
        {
            rejected.GetValueOrDefault(loser).Should().Be(0, "'{0}' lost to '{1}'", loser, winner);
        }
    }
}

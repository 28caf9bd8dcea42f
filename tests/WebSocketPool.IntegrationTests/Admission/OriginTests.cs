// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.HostFiltering;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.DependencyInjection;
using WebSocketPool.IntegrationTests.Infrastructure;

namespace WebSocketPool.IntegrationTests.Admission;

/// <summary>
/// The same-origin check compares scheme, host and port (default ports equal to none) with the request's own, the
/// scheme as the app sees it after forwarded headers; configured origins are compared the same way. The Host header
/// itself comes from the client, so against DNS rebinding the app restricts it with host filtering (AllowedHosts),
/// which refuses a foreign Host before the pool sees the request.
/// </summary>
public sealed class OriginTests
{
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(20);

    [Theory]
    [InlineData("https://127.0.0.1:{port}")]
    [InlineData("ws://127.0.0.1:{port}")]
    [InlineData("wss://127.0.0.1:{port}")]
    [InlineData("ftp://127.0.0.1:{port}")]
    [InlineData("http://127.0.0.1:{other}")]
    [InlineData("http://127.0.0.1")]
    [InlineData("http://localhost:{port}")]
    [InlineData("http://127.0.0.1:{port}/chat")]
    [InlineData("http://user@127.0.0.1:{port}")]
    [InlineData("null")]
    [InlineData("127.0.0.1:{port}")]
    public async Task Upgrade_OriginOtherThanTheRequestsOwn_Returns403(string origin)
    {
        await using var server = await StartAsync();

        var status = await UpgradeStatusAsync(server, Fill(origin, server));

        status.Should().Be(403, "'{0}' is not the request's own origin", Fill(origin, server));
        server.Factory.GetSnapshot(0).Rejected[RejectionReasons.Origin].Should().Be(1);
        server.Factory.ActiveConnections.Should().Be(0);
    }

    [Theory]
    [InlineData("http://127.0.0.1:{port}")]
    [InlineData("HTTP://127.0.0.1:{port}")]
    [InlineData("http://127.0.0.1:{port}/")]
    public async Task Upgrade_SameOrigin_IsAdmitted(string origin)
    {
        await using var server = await StartAsync();

        (await UpgradeStatusAsync(server, Fill(origin, server))).Should().Be(101);

        await PoolTestServer.WaitUntilAsync(() => server.Factory.ActiveConnections == 0, s_deadline, "the connection is released");
    }

    /// <summary>A request for a host without a port is on the scheme's default port: an origin with or without :80 matches, others do not.</summary>
    [Theory]
    [InlineData("app.test", "http://app.test", 101)]
    [InlineData("app.test", "http://APP.test:80", 101)]
    [InlineData("app.test:80", "http://app.test", 101)]
    [InlineData("app.test", "http://app.test:8080", 403)]
    [InlineData("app.test", "https://app.test", 403)]
    [InlineData("app.test", "https://app.test:80", 403)]
    [InlineData("app.test:8080", "http://app.test", 403)]
    public async Task Upgrade_DefaultPort_EqualsNoPort(string host, string origin, int expected)
    {
        await using var server = await StartAsync();

        (await UpgradeStatusAsync(server, origin, host)).Should().Be(expected);

        await PoolTestServer.WaitUntilAsync(() => server.Factory.ActiveConnections == 0, s_deadline, "the connection is released");
    }

    /// <summary>Behind a TLS-terminating proxy the request's scheme is the one the proxy forwards.</summary>
    [Fact]
    public async Task Upgrade_BehindTlsTerminatingProxy_ComparesWithTheForwardedScheme()
    {
        await using var server = await PoolTestServer.StartAsync(
            pool: p => p.AddHandler<CoreTestHandler>(),
            services: s => s.Configure<ForwardedHeadersOptions>(o => o.ForwardedHeaders = ForwardedHeaders.XForwardedProto | ForwardedHeaders.XForwardedHost),
            pipeline: app =>
            {
                app.UseForwardedHeaders();
                app.UseWebSocketPooling();
            });

        (await UpgradeStatusAsync(server, "https://chat.test", "backend:8080", ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "chat.test"))).Should().Be(101);
        (await UpgradeStatusAsync(server, "http://chat.test", "backend:8080", ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "chat.test"))).Should().Be(403);
        (await UpgradeStatusAsync(server, "https://backend:8080", "backend:8080", ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "chat.test"))).Should().Be(403);
        await PoolTestServer.WaitUntilAsync(() => server.Factory.ActiveConnections == 0, s_deadline, "the connection is released");
    }

    [Theory]
    [InlineData("https://app.example", 101)]
    [InlineData("https://APP.example:443", 101)]
    [InlineData("https://app.example/", 101)]
    [InlineData("http://app.example", 403)]
    [InlineData("https://app.example:8443", 403)]
    [InlineData("wss://app.example", 403)]
    [InlineData("http://app.example:8080", 101)]
    [InlineData("null", 403)]
    public async Task Upgrade_ConfiguredOrigins_ComparedOnSchemeHostAndPort(string origin, int expected)
    {
        await using var server = await StartAsync(o =>
        {
            o.AllowedOrigins.Add("https://app.example/");
            o.AllowedOrigins.Add("HTTP://app.example:8080");
        });

        (await UpgradeStatusAsync(server, origin)).Should().Be(expected);

        await PoolTestServer.WaitUntilAsync(() => server.Factory.ActiveConnections == 0, s_deadline, "the connection is released");
    }

    /// <summary>
    /// DNS rebinding: a page on attacker.test, re-pointed at the server, sends Host and Origin both attacker.test — its
    /// own origin, which the same-origin check alone cannot tell apart. Host filtering refuses the foreign Host first.
    /// </summary>
    [Fact]
    public async Task Upgrade_RebindingHost_PassesTheOriginCheckAloneAndIsRefusedByHostFiltering()
    {
        const string Rebound = "attacker.test";
        await using (var unfiltered = await StartAsync())
        {
            (await UpgradeStatusAsync(unfiltered, "http://" + Rebound, Rebound)).Should().Be(101, "without host filtering the origin matches the Host it came with");
        }

        await using var server = await PoolTestServer.StartAsync(
            pool: p => p.AddHandler<CoreTestHandler>(),
            services: s => s.Configure<HostFilteringOptions>(o => o.AllowedHosts = ["127.0.0.1", "localhost"]),
            pipeline: app =>
            {
                app.UseHostFiltering();
                app.UseWebSocketPooling();
            });

        (await UpgradeStatusAsync(server, "http://" + Rebound, Rebound)).Should().Be(400, "host filtering refuses a Host that is not the server's");
        server.Factory.GetSnapshot(0).Rejected.Values.Sum().Should().Be(0, "the request never reached the pool");
        (await UpgradeStatusAsync(server, Fill("http://127.0.0.1:{port}", server))).Should().Be(101, "the server's own host still passes");
        await PoolTestServer.WaitUntilAsync(() => server.Factory.ActiveConnections == 0, s_deadline, "the connection is released");
    }

    private static Task<PoolTestServer> StartAsync(Action<WebSocketPoolOptions>? configure = null) =>
        PoolTestServer.StartAsync(configure, pool: p => p.AddHandler<CoreTestHandler>());

    private static string Fill(string origin, PoolTestServer server) => origin
        .Replace("{port}", server.BaseUri.Port.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
        .Replace("{other}", (server.BaseUri.Port == 65535 ? 1024 : server.BaseUri.Port + 1).ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal);

    private static Task<int> UpgradeStatusAsync(PoolTestServer server, string origin) => UpgradeStatusAsync(server, origin, host: null);

    /// <summary>Sends an upgrade with <paramref name="origin"/> (and a Host of <paramref name="host"/>); returns the status.</summary>
    private static async Task<int> UpgradeStatusAsync(PoolTestServer server, string origin, string? host, params (string Name, string Value)[] headers)
    {
        using var cts = new CancellationTokenSource(s_deadline);
        await using var client = await RawWebSocketClient.OpenAsync(server.BaseUri, cancellationToken: cts.Token);
        await client.SendRawAsync(RawWebSocketClient.UpgradeRequest(server.BaseUri, "alice", "/ws", host, [.. headers, ("Origin", origin)]), cts.Token);
        return await client.ReadHandshakeResponseAsync(cts.Token);
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.DependencyInjection;
using WebSocketPool.IntegrationTests.Infrastructure;
using WebSocketPool.Internal;

namespace WebSocketPool.IntegrationTests.Admission;

/// <summary>
/// Behind a reverse proxy, with <c>UseForwardedHeaders</c> before <c>UseWebSocketPooling</c>: an anonymous connection is
/// keyed by the client address the trusted proxy forwarded (<c>X-Forwarded-For</c>), and the per-IP limit counts that
/// address; the same header from a sender that is not a known proxy is ignored, so a client cannot forge its way past
/// its own address's limit. A second proxy address is a socket bound to 127.0.0.2.
/// </summary>
public sealed class ForwardedHeadersTests
{
    private static readonly IPAddress s_proxy = IPAddress.Loopback;
    private static readonly IPAddress s_otherProxy = IPAddress.Parse("127.0.0.2");
    private static readonly IPAddress s_client = IPAddress.Parse("127.0.0.9");
    private static readonly IPAddress s_secondClient = IPAddress.Parse("127.0.0.10");
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Upgrade_FromTrustedProxy_KeysAndLimitsByTheForwardedAddress()
    {
        // Arrange: 127.0.0.1 is the one known proxy.
        await using var server = await StartAsync(s_proxy);
        var open = new List<RawWebSocketClient>();
        try
        {
            // Act
            var statuses = new List<int>();
            foreach (var client in new[] { s_client, s_client, s_client, s_secondClient })
            {
                var (socket, status) = await UpgradeAsync(server, s_proxy, client);
                open.Add(socket);
                statuses.Add(status);
            }

            // Assert
            statuses.Should().Equal([101, 101, 429, 101], "the forwarded client holds its per-IP limit of two; another forwarded client has its own");
            server.Factory.GetConnectionCount(s_client.ToString()).Should().Be(2, "the anonymous key is the forwarded address");
            server.Factory.GetConnectionCount(s_secondClient.ToString()).Should().Be(1);
            server.Factory.GetConnectionCount(s_proxy.ToString()).Should().Be(0, "the proxy is no user");
            server.Factory.GetAddressConnectionCount(s_client).Should().Be(2);
            server.Factory.GetAddressConnectionCount(s_proxy).Should().Be(0, "the proxy's own address counts nothing");
            var handler = server.App.Services.GetRequiredService<CoreTestHandler>();
            await Conditions.WaitAsync(() => handler.Connected.Count == 3, s_deadline, "three connections reach the handler");
            handler.Connected.Select(c => c.RemoteIpAddress).Should().BeEquivalentTo([s_client, s_client, s_secondClient]);

            var (previewStatus, previewBody) = await PreviewAsync(server, s_secondClient);
            previewStatus.Should().Be(HttpStatusCode.OK);
            previewBody.GetProperty("user").GetString().Should().Be(s_secondClient.ToString(), "the preview keys by the same forwarded address");
            previewBody.GetProperty("connections").GetInt32().Should().Be(1);
        }
        finally
        {
            foreach (var socket in open)
            {
                await socket.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Upgrade_FromUntrustedSender_IgnoresTheForwardedAddress()
    {
        // Arrange: only 127.0.0.2 is a known proxy; the client at 127.0.0.1 forges X-Forwarded-For.
        await using var server = await StartAsync(s_otherProxy);
        var open = new List<RawWebSocketClient>();
        try
        {
            // Act
            var statuses = new List<int>();
            foreach (var claimed in new[] { s_client, s_secondClient, IPAddress.Parse("127.0.0.11") })
            {
                var (socket, status) = await UpgradeAsync(server, s_proxy, claimed);
                open.Add(socket);
                statuses.Add(status);
            }

            var (viaProxy, viaProxyStatus) = await UpgradeAsync(server, s_otherProxy, s_client);
            open.Add(viaProxy);

            // Assert
            statuses.Should().Equal([101, 101, 429], "the forged addresses are ignored: all three are 127.0.0.1, whose limit is two");
            server.Factory.GetConnectionCount(s_proxy.ToString()).Should().Be(2, "the anonymous key is the sender's own address");
            server.Factory.GetAddressConnectionCount(s_proxy).Should().Be(2);
            viaProxyStatus.Should().Be(101, "the known proxy's header is honoured");
            server.Factory.GetConnectionCount(s_client.ToString()).Should().Be(1);
            server.Factory.GetConnectionCount(s_secondClient.ToString()).Should().Be(0, "a forged address got no connection");
        }
        finally
        {
            foreach (var socket in open)
            {
                await socket.DisposeAsync();
            }
        }
    }

    /// <summary>A pool for anonymous clients (keyed by address, two per address) behind <paramref name="knownProxy"/>.</summary>
    private static Task<PoolTestServer> StartAsync(IPAddress knownProxy) =>
        PoolTestServer.StartAsync(
            o =>
            {
                o.AllowAnonymous = true;
                o.MaxConnectionsPerIP = 2;
            },
            pool: p => p.AddHandler<CoreTestHandler>().AddUserKeyResolver<DefaultUserKeyResolver>(),
            services: s => s.Configure<ForwardedHeadersOptions>(o =>
            {
                o.ForwardedHeaders = ForwardedHeaders.XForwardedFor;
                o.KnownProxies.Clear();
                o.KnownIPNetworks.Clear();
                o.KnownProxies.Add(knownProxy);
            }),
            pipeline: app =>
            {
                app.UseForwardedHeaders();
                app.UseWebSocketPooling();
            });

    /// <summary>An upgrade sent from <paramref name="from"/> that says it is for <paramref name="forwardedFor"/>.</summary>
    private static async Task<(RawWebSocketClient Socket, int Status)> UpgradeAsync(PoolTestServer server, IPAddress from, IPAddress forwardedFor)
    {
        using var cts = new CancellationTokenSource(s_deadline);
        var socket = await RawWebSocketClient.OpenAsync(server.BaseUri, localAddress: from, cancellationToken: cts.Token);
        await socket.SendRawAsync(
            RawWebSocketClient.UpgradeRequest(server.BaseUri, "ignored", "/ws", null, ("X-Forwarded-For", forwardedFor.ToString())), cts.Token);
        return (socket, await socket.ReadHandshakeResponseAsync(cts.Token));
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> PreviewAsync(PoolTestServer server, IPAddress forwardedFor)
    {
        using var http = new HttpClient { Timeout = s_deadline };
        using var request = new HttpRequestMessage(HttpMethod.Get, UpgradeProbe.PoolUri(server.BaseUri));
        request.Headers.Add("X-Forwarded-For", forwardedFor.ToString());
        using var response = await http.SendAsync(request);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return (response.StatusCode, json.RootElement.Clone());
    }
}

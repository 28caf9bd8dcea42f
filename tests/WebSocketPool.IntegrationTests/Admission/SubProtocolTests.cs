// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.WebSockets;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using WebSocketPool.IntegrationTests.Infrastructure;
using WebSocketPool.IntegrationTests.Reliability;

namespace WebSocketPool.IntegrationTests.Admission;

/// <summary>
/// A pool lists the subprotocols it speaks; of those a client offers, the first in the client's order that the pool
/// speaks is selected, answered in the 101 and on the connection handle. Offers of which the pool speaks none, and no
/// offer where one is required, are refused with 400 <c>subprotocol</c> and a problem body before the upgrade, after the
/// user is known and before any rate token or slot is taken. The preview answers the same when it carries offers.
/// </summary>
public sealed class SubProtocolTests : IDisposable
{
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(30);
    private static readonly string[] s_spoken = ["chat.v1", "chat.v2", "json"];

    private readonly HttpClient _http = new() { Timeout = s_deadline };

    public void Dispose() => _http.Dispose();

    [Fact]
    public async Task Upgrade_SeveralOffered_SelectsTheFirstInTheClientsOrderThatThePoolSpeaks()
    {
        await using var server = await StartAsync();
        using var client = NewClient("chat.v3", "chat.v2", "chat.v1");

        await client.ConnectAsync(server.WebSocketUri("alice"), CancellationToken.None);

        client.SubProtocol.Should().Be("chat.v2", "the client prefers chat.v2 to chat.v1; the pool's own order does not count");
        client.HttpResponseHeaders!["Sec-WebSocket-Protocol"].Should().Equal("chat.v2");
        var handle = await ConnectedAsync(server, "alice");
        handle.SubProtocol.Should().Be("chat.v2", "the selected subprotocol is on the connection handle");

        // The raw 101 names it too, offered as one comma-separated header.
        await using var raw = await RawWebSocketClient.OpenAsync(server.BaseUri);
        await raw.SendRawAsync(RawWebSocketClient.UpgradeRequest(server.BaseUri, "bob", "/ws", null, ("Sec-WebSocket-Protocol", "json, chat.v1")));
        (await raw.ReadHandshakeResponseAsync()).Should().Be(101);
        HeaderValues(raw.HandshakeResponse, "Sec-WebSocket-Protocol").Should().Equal("json");
        (await ConnectedAsync(server, "bob")).SubProtocol.Should().Be("json");

        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        raw.Reset();
        await PoolInvariants.AssertSettledAsync(server);
    }

    [Fact]
    public async Task Upgrade_NoneOffered_AcceptedWithoutSubProtocolUnlessRequired()
    {
        await using var server = await StartAsync();
        await using var raw = await RawWebSocketClient.OpenAsync(server.BaseUri);

        (await raw.HandshakeAsync(server.BaseUri, "alice")).Should().Be(101);

        HeaderValues(raw.HandshakeResponse, "Sec-WebSocket-Protocol").Should().BeEmpty("no subprotocol was offered, so none is selected");
        (await ConnectedAsync(server, "alice")).SubProtocol.Should().BeNull();
        raw.Reset();
        await PoolInvariants.AssertSettledAsync(server);
    }

    [Fact]
    public async Task Upgrade_RequiredButNoneOffered_Returns400ProblemAndCountsNoSlot()
    {
        await using var server = await StartAsync(o => o.RequireSubProtocol = true);
        using var rejected = new MetricCollector<long>(server.App.Services.GetRequiredService<IMeterFactory>(), "WebSocketPool", "websocketpool.rejected_connections");
        using var client = NewClient();

        var connect = () => client.ConnectAsync(server.WebSocketUri("alice"), CancellationToken.None);

        await connect.Should().ThrowAsync<WebSocketException>();
        client.HttpStatusCode.Should().Be(HttpStatusCode.BadRequest);
        using var response = await UpgradeProbe.SendAsync(_http, UpgradeProbe.PoolUri(server.BaseUri, "alice"));
        var body = await UpgradeProbe.AssertRefusedAsync(response, HttpStatusCode.BadRequest, RejectionReasons.SubProtocol);
        body.GetProperty("detail").GetString().Should().Contain("requires").And.Contain("'chat.v1', 'chat.v2', 'json'");
        response.Headers.RetryAfter.Should().BeNull("retrying the same request cannot succeed");
        AssertNothingHeld(server, "alice");
        server.Factory.GetSnapshot(0).Rejected[RejectionReasons.SubProtocol].Should().Be(2);
        rejected.GetMeasurementSnapshot().Select(m => (string)m.Tags["websocketpool.rejection.reason"]!)
            .Should().Equal(RejectionReasons.SubProtocol, RejectionReasons.SubProtocol);

        // With an offer it speaks, the same pool admits.
        using var speaking = NewClient("json");
        await speaking.ConnectAsync(server.WebSocketUri("alice"), CancellationToken.None);
        speaking.SubProtocol.Should().Be("json");
    }

    [Fact]
    public async Task Upgrade_OfferedButNoneSpoken_Returns400ProblemBeforeTheUpgradeAndCountsNoSlot()
    {
        const int Attempts = 200;
        await using var server = await StartAsync();
        using var client = NewClient("chat.v3", "CHAT.V2");

        var connect = () => client.ConnectAsync(server.WebSocketUri("alice"), CancellationToken.None);

        await connect.Should().ThrowAsync<WebSocketException>();
        client.HttpStatusCode.Should().Be(HttpStatusCode.BadRequest, "names compare case-sensitively, as browsers compare the answer");
        using var response = await UpgradeProbe.SendAsync(_http, UpgradeProbe.PoolUri(server.BaseUri, "alice"), ("Sec-WebSocket-Protocol", "mqtt"));
        var body = await UpgradeProbe.AssertRefusedAsync(response, HttpStatusCode.BadRequest, RejectionReasons.SubProtocol);
        body.GetProperty("detail").GetString().Should().Contain("'chat.v1', 'chat.v2', 'json'");
        body.TryGetProperty("limit", out _).Should().BeFalse("a malformed request is no limit");

        // Many at once, over raw sockets: every one is refused and none holds anything.
        var statuses = new ConcurrentBag<int>();
        await OverloadTests.ForEachBoundedAsync(Attempts, 32, async i =>
        {
            using var cts = new CancellationTokenSource(s_deadline);
            await using var raw = await RawWebSocketClient.OpenAsync(server.BaseUri, cancellationToken: cts.Token);
            await raw.SendRawAsync(RawWebSocketClient.UpgradeRequest(server.BaseUri, "user" + (i % 10), "/ws", null, ("Sec-WebSocket-Protocol", "graphql-ws")), cts.Token);
            statuses.Add(await raw.ReadHandshakeResponseAsync(cts.Token));
        });

        statuses.Should().HaveCount(Attempts).And.OnlyContain(s => s == 400);
        AssertNothingHeld(server, "alice");
        server.Factory.GetSnapshot(0).Rejected[RejectionReasons.SubProtocol].Should().Be(Attempts + 2);
    }

    [Fact]
    public async Task Upgrade_PoolSpeaksNoneAndClientOffersOne_Returns400()
    {
        await using var server = await PoolTestServer.StartAsync(pool: p => p.AddHandler<CoreTestHandler>());
        using var client = NewClient("chat.v1");

        var connect = () => client.ConnectAsync(server.WebSocketUri("alice"), CancellationToken.None);

        await connect.Should().ThrowAsync<WebSocketException>();
        client.HttpStatusCode.Should().Be(HttpStatusCode.BadRequest,
            "a 101 without a subprotocol would make the client fail after the upgrade, seeing only 1006");
        using var response = await UpgradeProbe.SendAsync(_http, UpgradeProbe.PoolUri(server.BaseUri, "alice"), ("Sec-WebSocket-Protocol", "chat.v1"));
        var body = await UpgradeProbe.AssertRefusedAsync(response, HttpStatusCode.BadRequest, RejectionReasons.SubProtocol);
        body.GetProperty("detail").GetString().Should().Contain("speaks no WebSocket subprotocol");
        using var plain = NewClient();
        await plain.ConnectAsync(server.WebSocketUri("alice"), CancellationToken.None);
        plain.SubProtocol.Should().BeNull();
    }

    [Fact]
    public async Task Upgrade_SubProtocolIsCheckedAfterTheUserAndBeforeTheLimits()
    {
        await using var server = await StartAsync(o =>
        {
            o.MaxConnectionsPerUser = 1;
            o.ConnectRateLimitPerIP = 0.001;
            o.ConnectRateBurstPerIP = 2;
        });
        using var open = NewClient("json");
        await open.ConnectAsync(server.WebSocketUri("alice"), CancellationToken.None);

        // No user and a bad offer: 401 wins (as endpoint authorization would answer first).
        using (var anonymous = await UpgradeProbe.SendAsync(_http, UpgradeProbe.PoolUri(server.BaseUri), ("Sec-WebSocket-Protocol", "mqtt")))
        {
            await UpgradeProbe.AssertRefusedAsync(anonymous, HttpStatusCode.Unauthorized, RejectionReasons.Unauthenticated);
        }

        // At the user's limit with a bad offer: 400, and it spends no per-IP token (one of two is left).
        for (var i = 0; i < 3; i++)
        {
            using var response = await UpgradeProbe.SendAsync(_http, UpgradeProbe.PoolUri(server.BaseUri, "alice"), ("Sec-WebSocket-Protocol", "mqtt"));
            await UpgradeProbe.AssertRefusedAsync(response, HttpStatusCode.BadRequest, RejectionReasons.SubProtocol);
        }

        using (var atLimit = await UpgradeProbe.SendAsync(_http, UpgradeProbe.PoolUri(server.BaseUri, "alice"), ("Sec-WebSocket-Protocol", "json")))
        {
            await UpgradeProbe.AssertRefusedAsync(atLimit, HttpStatusCode.TooManyRequests, RejectionReasons.UserLimit);
        }

        var rejected = server.Factory.GetSnapshot(0).Rejected;
        rejected[RejectionReasons.SubProtocol].Should().Be(3);
        rejected[RejectionReasons.UserLimit].Should().Be(1);
        rejected[RejectionReasons.IPRateLimited].Should().Be(0, "the subprotocol refusals took no token from the address's burst of two");
    }

    [Fact]
    public async Task Preview_AnswersTheSubProtocolDecisionWhenItCarriesOffers()
    {
        await using var server = await StartAsync(o => o.RequireSubProtocol = true);

        (await PreviewAsync(server, null)).Status.Should().Be(HttpStatusCode.OK,
            "a browser cannot send Sec-WebSocket-Protocol on a fetch, so a preview without offers is not refused for lacking one");
        (await PreviewAsync(server, "chat.v3, json")).Status.Should().Be(HttpStatusCode.OK);
        var (status, body) = await PreviewAsync(server, "mqtt");
        status.Should().Be(HttpStatusCode.BadRequest);
        body.GetProperty("reason").GetString().Should().Be(RejectionReasons.SubProtocol);
        server.Factory.GetSnapshot(0).Rejected[RejectionReasons.SubProtocol].Should().Be(0, "a preview counts nothing");
        AssertNothingHeld(server, "alice");
    }

    private static Task<PoolTestServer> StartAsync(Action<WebSocketPoolOptions>? configure = null) =>
        PoolTestServer.StartAsync(
            o =>
            {
                foreach (var name in s_spoken)
                {
                    o.SubProtocols.Add(name);
                }

                configure?.Invoke(o);
            },
            pool: p => p.AddHandler<CoreTestHandler>());

    private static ClientWebSocket NewClient(params string[] offers)
    {
        var client = new ClientWebSocket();
        client.Options.KeepAliveInterval = TimeSpan.Zero;
        client.Options.CollectHttpResponseDetails = true;
        foreach (var offer in offers)
        {
            client.Options.AddSubProtocol(offer);
        }

        return client;
    }

    private async Task<(HttpStatusCode Status, JsonElement Body)> PreviewAsync(PoolTestServer server, string? offers)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, UpgradeProbe.PoolUri(server.BaseUri, "alice"));
        if (offers is not null)
        {
            request.Headers.Add("Sec-WebSocket-Protocol", offers);
        }

        using var response = await _http.SendAsync(request);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return (response.StatusCode, json.RootElement.Clone());
    }

    private static async Task<WebSocketConnection> ConnectedAsync(PoolTestServer server, string user)
    {
        var handler = server.App.Services.GetRequiredService<CoreTestHandler>();
        WebSocketConnection found = default;
        await Conditions.WaitAsync(
            () => handler.Connected.Any(c => c.UserKey == user && c.IsActive && (found = c).UserKey is not null),
            s_deadline,
            $"{user}'s connection reaches the handler");
        return found;
    }

    private static void AssertNothingHeld(PoolTestServer server, string user)
    {
        server.Factory.ActiveConnections.Should().Be(0, "a refusal before the upgrade reserves nothing");
        server.Factory.GetConnectionCount(user).Should().Be(0);
        server.Factory.UserEntryCount.Should().Be(0, "a refusal leaves no per-user state behind");
    }

    private static string[] HeaderValues(string head, string name) =>
        [.. head.Split("\r\n").Skip(1)
            .Select(line => line.Split(':', 2))
            .Where(parts => parts.Length == 2 && parts[0].Trim().Equals(name, StringComparison.OrdinalIgnoreCase))
            .SelectMany(parts => parts[1].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))];
}

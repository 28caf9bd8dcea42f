// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using WebSocketPool.Redis.Tests.Infrastructure;

namespace WebSocketPool.Redis.Tests;

/// <summary>The core's side of <see cref="IWebSocketAdmissionGate"/>: when it is asked, what a refusal does, and that every admission is released once.</summary>
public sealed class AdmissionGateTests
{
    private static async Task<(WebApplication App, Uri BaseUri, RecordingGate Gate)> StartAsync(Action<WebSocketPoolOptions>? configure = null)
    {
        var gate = new RecordingGate();
        var server = await PoolTestServer.StartAsync(
            configure: o =>
            {
                o.KeepAliveInterval = TimeSpan.Zero;
                configure?.Invoke(o);
            },
            pool: b => b.AddHandler<RelayHandler>(),
            services: s => s.AddSingleton<IWebSocketAdmissionGate>(gate));
        return (server.App, server.BaseUri, gate);
    }

    private static Uri Ws(Uri baseUri, string user) => new UriBuilder(baseUri) { Scheme = "ws", Path = "/ws", Query = "user=" + user }.Uri;

    [Fact]
    public async Task Connect_GateRefuses_AnswersGateStatusAndGivesTheReservationBack()
    {
        var (app, baseUri, gate) = await StartAsync();
        await using var _ = app;
        gate.Refused["uma"] = true;
        var factory = app.Services.GetRequiredService<PooledWebSocketManagerFactory>();

        var status = await Clients.TryConnectStatusAsync(Ws(baseUri, "uma"));

        status.Should().Be(429);
        factory.ActiveConnections.Should().Be(0);
        gate.Admitted.Should().ContainSingle();
        gate.Released.Should().ContainKey(gate.Admitted.Keys.Single()).WhoseValue.Should().Be(1, "a refused admission is released too, once");
        factory.GetSnapshot().Rejected[RejectionReasons.UserLimit].Should().Be(1);

        using var http = new HttpClient();
        using var preview = await http.GetAsync(new Uri(baseUri, "/ws?user=uma"));
        preview.StatusCode.Should().Be(HttpStatusCode.TooManyRequests);
        using var problem = JsonDocument.Parse(await preview.Content.ReadAsStringAsync());
        problem.RootElement.GetProperty("limit").GetInt32().Should().Be(7);
        problem.RootElement.GetProperty("current").GetInt32().Should().Be(7);
    }

    [Fact]
    public async Task Connect_GateAdmits_ConnectionIdStartsWithNodeIdAndEveryPathReleasesOnce()
    {
        var (app, baseUri, gate) = await StartAsync(o =>
        {
            o.MaxConnectionsPerUser = 1;
            o.OverflowPolicy = OverflowPolicy.EvictOldest;
        });
        await using var _ = app;
        var factory = app.Services.GetRequiredService<PooledWebSocketManagerFactory>();
        var sender = app.Services.GetRequiredService<IWebSocketSender>();

        // Paths: client close, local eviction (EvictOldest), kick.
        var closed = await Clients.ConnectAsync(Ws(baseUri, "vic"));
        await closed.CloseQuietlyAsync();
        var evicted = await Clients.ConnectAsync(Ws(baseUri, "walt"));
        await WaitOpenAsync(factory, "walt");
        var evictor = await Clients.ConnectAsync(Ws(baseUri, "walt"));
        (await evicted.ReceiveCloseAsync()).Should().Be(WebSocketCloseCodes.Evicted);
        await evicted.CloseQuietlyAsync(); // answered: a closing socket counts against the node's cap until it has closed
        var kicked = await Clients.ConnectAsync(Ws(baseUri, "xena"));
        await WaitOpenAsync(factory, "xena");
        await sender.DisconnectUserAsync("xena");
        (await kicked.ReceiveCloseAsync()).Should().Be(WebSocketCloseCodes.Kicked);
        await kicked.CloseQuietlyAsync();
        await evictor.CloseQuietlyAsync();

        await Conditions.PollAsync(() => factory.ActiveConnections == 0, Clients.Deadline, "every slot is free");
        gate.Admitted.Should().HaveCount(4);
        gate.Admitted.Keys.Should().OnlyContain(id => id.StartsWith(factory.NodeId + "-", StringComparison.Ordinal));
        gate.Released.Keys.Should().BeEquivalentTo(gate.Admitted.Keys);
        gate.Released.Values.Should().OnlyContain(n => n == 1, "each admitted slot is released exactly once");

        using var http = new HttpClient();
        using var preview = await http.GetAsync(new Uri(baseUri, "/ws?user=yuri"));
        using var body = JsonDocument.Parse(await preview.Content.ReadAsStringAsync());
        body.RootElement.GetProperty("connections").GetInt32().Should().Be(42, "the gate's count replaces the node's");
        evicted.Dispose();
        kicked.Dispose();
    }

    private static Task<TimeSpan> WaitOpenAsync(PooledWebSocketManagerFactory factory, string user) =>
        Conditions.PollAsync(() => factory.GetConnections(user).Count == 1, Clients.Deadline, $"{user}'s socket is registered");
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace WebSocketPool.IntegrationTests.Diagnostics;

public sealed class HealthCheckTests
{
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Health_UserReachesHalfOfPerUserLimit_StaysHealthyAndReportsTheUser()
    {
        // Arrange: 4 per user, so 2 connections reach the 50 % alert threshold of alice's own limit.
        await using var server = await StartAsync(o => o.MaxConnectionsPerUser = 4);
        using var a1 = await server.ConnectAsync("alice");
        using var b1 = await server.ConnectAsync("bob");

        // Act
        using var a2 = await server.ConnectAsync("alice");
        var nearLimit = await CheckAsync(server);

        // Assert: one user near their personal limit is reported, and the node stays Healthy
        nearLimit.Status.Should().Be(HealthStatus.Healthy);
        nearLimit.Data["usersNearLimit"].Should().Be(1);
        nearLimit.Data["topUsers"].Should().BeEquivalentTo(new[] { "alice:2/4" });
        server.Factory.GetSnapshot().Users.Should().Contain(new UserConnectionCount("alice", 2, 4));
    }

    [Fact]
    public async Task Health_NodeReachesHalfOfMaxConnections_DegradedThenHealthyAgain()
    {
        // Arrange: 10 on the node and 10 per user, so only the node's threshold (5) can be crossed by 5 users.
        await using var server = await StartAsync(o =>
        {
            o.MaxConnections = 10;
            o.MaxConnectionsPerUser = 10;
        });
        var clients = new List<ClientWebSocket>();
        for (var i = 0; i < 4; i++)
        {
            clients.Add(await server.ConnectAsync("user" + i));
        }

        (await CheckAsync(server)).Status.Should().Be(HealthStatus.Healthy);

        // Act
        clients.Add(await server.ConnectAsync("user4"));
        var degraded = await CheckAsync(server);
        await clients[0].CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await PoolTestServer.WaitUntilAsync(() => server.Factory.ActiveConnections == 4, s_deadline, "one connection is released");
        var recovered = await CheckAsync(server);

        // Assert
        degraded.Status.Should().Be(HealthStatus.Degraded);
        degraded.Data["activeConnections"].Should().Be(5);
        degraded.Data["usersNearLimit"].Should().Be(0);
        recovered.Status.Should().Be(HealthStatus.Healthy);
        foreach (var client in clients)
        {
            client.Dispose();
        }
    }

    [Fact]
    public async Task Health_Draining_UnhealthyAnd503OverHttp()
    {
        await using var server = await StartAsync(null);
        using var client = await server.ConnectAsync("alice");
        using var http = new HttpClient { BaseAddress = server.BaseUri };
        var before = await http.GetAsync(new Uri("/health", UriKind.Relative));
        (await before.Content.ReadAsStringAsync()).Should().Be("Healthy");
        before.StatusCode.Should().Be(HttpStatusCode.OK);

        server.Factory.BeginDrain();

        (await CheckAsync(server)).Status.Should().Be(HealthStatus.Unhealthy);
        var during = await http.GetAsync(new Uri("/health", UriKind.Relative));
        during.StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable);
        (await during.Content.ReadAsStringAsync()).Should().Be("Unhealthy");
    }

    private static Task<PoolTestServer> StartAsync(Action<WebSocketPoolOptions>? configure) =>
        PoolTestServer.StartAsync(
            configure,
            services: s => s.AddHealthChecks().AddWebSocketPoolHealthCheck(),
            pipeline: app =>
            {
                app.UseWebSocketPooling();
                app.MapHealthChecks("/health", new HealthCheckOptions
                {
                    ResponseWriter = static (context, report) => context.Response.WriteAsync(report.Status.ToString()),
                });
            });

    private static async Task<HealthReportEntry> CheckAsync(PoolTestServer server)
    {
        // Every connection the test opened is counted once its upgrade has been admitted; nothing to wait for.
        var report = await server.App.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        return report.Entries["websocketpool"];
    }
}

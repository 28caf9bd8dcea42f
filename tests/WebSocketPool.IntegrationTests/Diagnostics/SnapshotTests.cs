// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;

namespace WebSocketPool.IntegrationTests.Diagnostics;

public sealed class SnapshotTests
{
    private const int Churners = 4;
    private const int Rounds = 25;
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task GetSnapshot_UnderConcurrentChurn_TopUsersStayOrderedAndRejectionsCountExactly()
    {
        // Arrange: steady users with 5, 3, 2 and 1 connections; 5 is the per-user limit.
        await using var server = await PoolTestServer.StartAsync(o => o.MaxConnectionsPerUser = 5);
        var steady = new List<ClientWebSocket>();
        foreach (var (user, count) in new[] { ("s5", 5), ("s3", 3), ("s2", 2), ("s1", 1) })
        {
            for (var i = 0; i < count; i++)
            {
                steady.Add(await server.ConnectAsync(user));
            }
        }

        // Act: churners connect and close (each also tries a sixth connection for s5, which is refused) while
        // snapshots are taken continuously.
        using var stop = new CancellationTokenSource();
        var violations = new List<string>();
        var snapshots = 0;
        var observer = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested && snapshots < 1_000_000)
            {
                var snapshot = server.Factory.GetSnapshot(3);
                snapshots++;
                var top = snapshot.Users.Select(u => $"{u.User}:{u.Connections}").ToArray();
                if (!top.SequenceEqual(["s5:5", "s3:3", "s2:2"]))
                {
                    violations.Add(string.Join(",", top));
                }

                if (snapshot.ActiveConnections is < 11 or > 11 + Churners || snapshot.UserCount is < 4 or > 4 + Churners)
                {
                    violations.Add($"active {snapshot.ActiveConnections}, users {snapshot.UserCount}");
                }
            }
        });
        var churn = Enumerable.Range(0, Churners).Select(n => Task.Run(async () =>
        {
            for (var round = 0; round < Rounds; round++)
            {
                using var client = await server.ConnectAsync("churn" + n);
                await MetricsTests.RefusedAsync(server, "s5");
                if (round % 2 == 0)
                {
                    await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
                }
                else
                {
                    client.Abort();
                }

                // One connection per churner at a time, so no churner can rival the steady users.
                await PoolTestServer.WaitUntilAsync(() => server.Factory.GetConnectionCount("churn" + n) == 0, s_deadline, "the churned connection is released");
            }
        })).ToList();
        await Task.WhenAll(churn).WaitAsync(TimeSpan.FromSeconds(120));
        await PoolTestServer.WaitUntilAsync(() => server.Factory.ActiveConnections == 11 && server.Factory.OpenConnectionCount == 11, s_deadline, "the churn is over");
        await stop.CancelAsync();
        await observer;

        // Assert
        violations.Should().BeEmpty();
        snapshots.Should().BeGreaterThan(0);
        var quiet = server.Factory.GetSnapshot();
        quiet.Users.Select(u => (u.User, u.Connections, u.Limit)).Should().Equal(("s5", 5, 5), ("s3", 3, 5), ("s2", 2, 5), ("s1", 1, 5));
        quiet.ActiveConnections.Should().Be(11);
        quiet.UserCount.Should().Be(4);
        quiet.Rejected["user_limit"].Should().Be(Churners * Rounds, "every refused attempt is counted exactly once");
        quiet.Rejected.Where(kv => kv.Key != "user_limit").Should().OnlyContain(kv => kv.Value == 0);
        foreach (var client in steady)
        {
            client.Dispose();
        }
    }

    [Fact]
    public async Task MapWebSocketPoolStats_TopParameter_ClampedNotRefused()
    {
        // Arrange
        await using var server = await PoolTestServer.StartAsync(pipeline: app =>
        {
            app.UseWebSocketPooling();
            app.MapWebSocketPoolStats();
        });
        using var a1 = await server.ConnectAsync("a");
        using var a2 = await server.ConnectAsync("a");
        using var b = await server.ConnectAsync("b");
        using var c = await server.ConnectAsync("c");
        using var http = new HttpClient { BaseAddress = server.BaseUri };

        // Act
        var full = await http.GetFromJsonAsync<JsonElement>("/stats");
        var two = await http.GetFromJsonAsync<JsonElement>("/stats?top=2");
        var huge = await http.GetFromJsonAsync<JsonElement>("/stats?top=100000000");
        var negative = await http.GetFromJsonAsync<JsonElement>("/stats?top=-5");
        var garbage = await http.GetFromJsonAsync<JsonElement>("/stats?top=lots");

        // Assert: the documented shape, camelCase.
        full.GetProperty("activeConnections").GetInt32().Should().Be(4);
        full.GetProperty("maxConnections").GetInt32().Should().Be(10_000);
        full.GetProperty("userCount").GetInt32().Should().Be(3);
        full.GetProperty("draining").GetBoolean().Should().BeFalse();
        full.GetProperty("evicted").GetInt64().Should().Be(0);
        full.GetProperty("pooledManagers").GetInt32().Should().BeGreaterThanOrEqualTo(0);
        full.GetProperty("rejected").EnumerateObject().Select(p => p.Name).Should()
            .Contain(["user_limit", "global_limit", "draining", "origin", "unauthenticated", "rate_limited", "ip_rate_limited", "ip_limit", "subprotocol"]);
        var first = full.GetProperty("users")[0];
        first.GetProperty("user").GetString().Should().Be("a");
        first.GetProperty("connections").GetInt32().Should().Be(2);
        first.GetProperty("limit").GetInt32().Should().Be(10);
        full.GetProperty("users").GetArrayLength().Should().Be(3);
        two.GetProperty("users").GetArrayLength().Should().Be(2);
        huge.GetProperty("users").GetArrayLength().Should().Be(3, "a huge top is clamped, not refused");
        negative.GetProperty("users").GetArrayLength().Should().Be(0);
        negative.GetProperty("userCount").GetInt32().Should().Be(3);
        garbage.GetProperty("users").GetArrayLength().Should().Be(3);
    }
}

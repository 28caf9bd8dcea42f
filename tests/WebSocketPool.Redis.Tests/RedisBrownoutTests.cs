// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using WebSocketPool.Redis.Internal;
using WebSocketPool.Redis.Tests.Infrastructure;

namespace WebSocketPool.Redis.Tests;

/// <summary>A slow Redis (paused) trips the circuit breaker: handshakes get the failure policy at once, not after a timeout each.</summary>
[Collection(UsesRedis.Name)]
public sealed class RedisBrownoutTests
{
    [Fact]
    public async Task RedisPaused_FailClosed_CircuitOpensAnswers503WithoutAskingRedisThenClosesWhenRedisAnswers()
    {
        await using var server = await RedisServer.StartNewAsync();
        var prefix = "t" + Guid.NewGuid().ToString("N")[..12];
        await using var node = await PoolNode.StartAsync(server.Configuration, prefix, o => o.MaxConnectionsPerUser = 5, r =>
        {
            r.FailurePolicy = RedisFailurePolicy.FailClosed;
            r.OperationTimeout = TimeSpan.FromMilliseconds(250);
            r.BreakDuration = TimeSpan.FromMinutes(1);
        });
        var guard = node.App.Services.GetRequiredService<RedisCommandGuard>();
        using var shortCircuited = new MetricCollector<long>(node.App.Services.GetRequiredService<IMeterFactory>(), "WebSocketPool",
            "websocketpool.redis.circuit.short_circuited");
        var held = await node.ConnectAsync("ada");

        // Act: Redis stops answering for 8 s. Handshakes time out one by one until the circuit opens.
        await server.PauseAsync(TimeSpan.FromSeconds(8));
        for (var i = 0; i < 20 && !guard.IsOpen; i++)
        {
            (await node.TryConnectStatusAsync("ada")).Should().Be(503, "FailClosed refuses while Redis does not answer");
        }

        guard.IsOpen.Should().BeTrue("repeated timeouts open the circuit");

        // Assert: while it is open, every handshake and preview is answered from the policy without asking Redis.
        for (var i = 0; i < 10; i++)
        {
            (await node.TryConnectStatusAsync("ada")).Should().Be(503);
        }

        using var http = new HttpClient();
        using (var preview = await http.GetAsync(new Uri(node.BaseUri, "/ws?user=ada")))
        {
            ((int)preview.StatusCode).Should().Be(503);
        }

        shortCircuited.GetMeasurementSnapshot().EvaluateAsCounter().Should().BeGreaterThanOrEqualTo(11);
        node.Factory.GetConnectionCount("ada").Should().Be(1, "refused attempts gave their reservations back");

        // When the pause ends, the node's heartbeat reaches Redis again and closes the circuit long before the one-minute break is over.
        await Conditions.WaitAsync(async () => await node.TryConnectStatusAsync("ada") == 101, TimeSpan.FromSeconds(30),
            "admissions reach Redis again");
        guard.IsOpen.Should().BeFalse();
        await held.CloseQuietlyAsync();
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics.Metrics;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using WebSocketPool.Redis.Internal;

namespace WebSocketPool.Redis.Tests.Infrastructure;

/// <summary>
/// One node of a cluster: a <see cref="PoolTestServer"/> (real Kestrel on 127.0.0.1 and a free port, users taken from
/// the <c>user</c> query parameter) with the pool's Redis scale-out, its health check, and <see cref="RelayHandler"/> as
/// the handler.
/// </summary>
public sealed class PoolNode : IAsyncDisposable
{
    private readonly PoolTestServer _server;
    private RedisWebSocketPoolHealthCheck? _healthCheck;

    private PoolNode(PoolTestServer server)
    {
        _server = server;
    }

    public WebApplication App => _server.App;

    public Uri BaseUri => _server.BaseUri;

    public PooledWebSocketManagerFactory Factory => _server.Factory;

    public IWebSocketSender Sender => _server.Sender;

    public WebSocketClusterPresence Presence => App.Services.GetRequiredService<WebSocketClusterPresence>();

    internal RedisLeaseGate Gate => App.Services.GetRequiredService<RedisLeaseGate>();

    internal RedisBus Bus => App.Services.GetRequiredService<RedisBus>();

    /// <summary>The node's own meter factory, for a <c>MetricCollector</c> of its instruments alone.</summary>
    public IMeterFactory Meters => App.Services.GetRequiredService<IMeterFactory>();

    public static async Task<PoolNode> StartAsync(
        string redisConfiguration,
        string prefix,
        Action<WebSocketPoolOptions>? pool = null,
        Action<RedisWebSocketPoolOptions>? redis = null,
        bool waitForRedis = true,
        Action<WebApplication>? pipeline = null)
    {
        var server = await PoolTestServer.StartAsync(
            configure: o =>
            {
                o.KeepAliveInterval = TimeSpan.Zero;
                pool?.Invoke(o);
            },
            pool: b => b
                .AddHandler<RelayHandler>()
                .AddRedis(o =>
                {
                    o.Configuration = redisConfiguration;
                    o.Prefix = prefix;
                    // Generous for a loaded 2-core machine: a slow answer would turn a test's 429 into a fail-open 101.
                    o.LeaseTtl = TimeSpan.FromSeconds(4);
                    o.OperationTimeout = TimeSpan.FromSeconds(2);
                    redis?.Invoke(o);
                }),
            services: s => s.AddHealthChecks().AddWebSocketPoolHealthCheck(),
            pipeline: pipeline);
        var node = new PoolNode(server);
        if (waitForRedis)
        {
            // Ready means connected and subscribed: on a loaded machine the first connect can outlast the host's start,
            // and a broadcast published before a node subscribed never reaches it (pub/sub keeps nothing).
            await Conditions.WaitAsync(async () => await node.RedisHealthAsync() == HealthStatus.Healthy, TimeSpan.FromSeconds(30),
                "the node is connected to Redis and subscribed");
        }

        return node;
    }

    public Uri WebSocketUri(string user) => _server.WebSocketUri(user);

    public Task<ClientWebSocket> ConnectAsync(string user) => Clients.ConnectAsync(WebSocketUri(user));

    public Task<int> TryConnectStatusAsync(string user) => Clients.TryConnectStatusAsync(WebSocketUri(user));

    /// <summary>
    /// Waits until the node runs <paramref name="count"/> open connections of <paramref name="user"/>: a client's
    /// handshake can finish a moment before the server has registered the socket for sends.
    /// </summary>
    public Task WaitOpenAsync(string user, int count) =>
        Conditions.PollAsync(() => Factory.GetConnections(user).Count == count, Clients.Deadline, $"{count} open connections of {user}");

    /// <summary>The user's live leases in Redis, or <see langword="null"/> when Redis did not answer (never a local fallback).</summary>
    public Task<int?> ClusterCountAsync(string user) => Gate.CountAsync(user, CancellationToken.None);

    /// <summary>Whether Redis holds no live lease of any user (false while it does not answer).</summary>
    public async Task<bool> NoLeasesInRedisAsync()
    {
        var users = await Presence.GetOnlineUsersAsync();
        return users.Count == 0 && Presence.IsClusterWide;
    }

    /// <summary>The status of the Redis health check (Healthy, Degraded while fail-open, Unhealthy while fail-closed).</summary>
    public async Task<HealthStatus> RedisHealthAsync()
    {
        var report = await App.Services.GetRequiredService<HealthCheckService>()
            .CheckHealthAsync(r => r.Name == WebSocketPoolRedisBuilderExtensions.HealthCheckName);
        return report.Status;
    }

    /// <summary>
    /// The Redis health check's answer right now, without the health service's scheduling: cheap enough to poll every
    /// millisecond, to catch a short Degraded period.
    /// </summary>
    public HealthStatus RedisHealthNow()
    {
        _healthCheck ??= ActivatorUtilities.CreateInstance<RedisWebSocketPoolHealthCheck>(App.Services);
        return _healthCheck.CheckHealthAsync(new HealthCheckContext()).GetAwaiter().GetResult().Status;
    }

    /// <summary>
    /// How many channels the node's StackExchange.Redis client has registered (with their handlers and queues), whether or
    /// not the server holds them. The client has no public count, so this reads its internal one; if a client upgrade
    /// removes it, this throws rather than let a test pass without checking.
    /// </summary>
    internal int ClientChannelRegistrations()
    {
        var multiplexer = App.Services.GetRequiredService<RedisConnection>().Multiplexer
            ?? throw new InvalidOperationException("The node is not connected to Redis.");
        var count = multiplexer.GetType().GetMethod("GetSubscriptionsCount", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic)
            ?? throw new InvalidOperationException("StackExchange.Redis no longer has ConnectionMultiplexer.GetSubscriptionsCount.");
        return (int)count.Invoke(multiplexer, null)!;
    }

    public ValueTask DisposeAsync() => _server.DisposeAsync();
}

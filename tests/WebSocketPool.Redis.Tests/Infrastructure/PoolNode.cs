// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using WebSocketPool.Redis.Internal;

namespace WebSocketPool.Redis.Tests.Infrastructure;

/// <summary>
/// One node of a cluster: a real Kestrel host on 127.0.0.1 and a free port with the pool and its Redis scale-out,
/// users taken from the <c>user</c> query parameter, and <see cref="RelayHandler"/> as the handler.
/// </summary>
public sealed class PoolNode : IAsyncDisposable
{
    private PoolNode(WebApplication app, Uri baseUri)
    {
        App = app;
        BaseUri = baseUri;
    }

    public WebApplication App { get; }

    public Uri BaseUri { get; }

    public PooledWebSocketManagerFactory Factory => App.Services.GetRequiredService<PooledWebSocketManagerFactory>();

    public IWebSocketSender Sender => App.Services.GetRequiredService<IWebSocketSender>();

    public WebSocketClusterPresence Presence => App.Services.GetRequiredService<WebSocketClusterPresence>();

    internal RedisLeaseGate Gate => App.Services.GetRequiredService<RedisLeaseGate>();

    public static async Task<PoolNode> StartAsync(
        string redisConfiguration,
        string prefix,
        Action<WebSocketPoolOptions>? pool = null,
        Action<RedisWebSocketPoolOptions>? redis = null,
        bool waitForRedis = true)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel().UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddWebSocketPooling(o =>
            {
                o.AuditInterval = TimeSpan.Zero;
                o.KeepAliveInterval = TimeSpan.Zero;
                pool?.Invoke(o);
            })
            .AddUserKeyResolver<QueryUserKeyResolver>()
            .AddHandler<RelayHandler>()
            .AddRedis(o =>
            {
                o.Configuration = redisConfiguration;
                o.Prefix = prefix;
                // Generous for a loaded 2-core machine: a slow answer would turn a test's 429 into a fail-open 101.
                o.LeaseTtl = TimeSpan.FromSeconds(4);
                o.OperationTimeout = TimeSpan.FromSeconds(2);
                redis?.Invoke(o);
            });
        builder.Services.AddHealthChecks().AddWebSocketPoolHealthCheck();
        var app = builder.Build();
        app.UseWebSocketPooling();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var node = new PoolNode(app, new Uri(address));
        if (waitForRedis)
        {
            // Ready means connected and subscribed: on a loaded machine the first connect can outlast the host's start,
            // and a broadcast published before a node subscribed never reaches it (pub/sub keeps nothing).
            await Clients.WaitUntilAsync(async () => await node.RedisHealthAsync() == HealthStatus.Healthy, TimeSpan.FromSeconds(30),
                "the node is connected to Redis and subscribed");
        }

        return node;
    }

    public Uri WebSocketUri(string user) =>
        new UriBuilder(BaseUri) { Scheme = "ws", Path = "/ws", Query = "user=" + Uri.EscapeDataString(user) }.Uri;

    public Task<ClientWebSocket> ConnectAsync(string user) => Clients.ConnectAsync(WebSocketUri(user));

    public Task<int> TryConnectStatusAsync(string user) => Clients.TryConnectStatusAsync(WebSocketUri(user));

    /// <summary>
    /// Waits until the node runs <paramref name="count"/> open connections of <paramref name="user"/>: a client's
    /// handshake can finish a moment before the server has registered the socket for sends.
    /// </summary>
    public Task WaitOpenAsync(string user, int count) =>
        Clients.WaitUntilAsync(() => Factory.GetConnections(user).Count == count, Clients.Deadline, $"{count} open connections of {user}");

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

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }

    private sealed class QueryUserKeyResolver : IUserKeyResolver
    {
        public ValueTask<string?> ResolveUserKeyAsync(HttpContext context)
        {
            var user = context.Request.Query["user"].ToString();
            return new(string.IsNullOrEmpty(user) ? null : user);
        }
    }
}

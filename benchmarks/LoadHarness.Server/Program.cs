// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Globalization;
using System.Net;
using LoadHarness.Server;
using LoadHarness.Server.Bare;
using LoadHarness.Server.Pool;
using LoadHarness.Server.SignalR;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR;
using WebSocketPool;
using WebSocketPool.Redis;

// Usage: LoadHarness.Server bare|barequeued|signalr|pool [--port N] [--cap N] [--redis HOST:PORT] [--lease-ttl SECONDS]
// Listens on 127.0.0.1 only and prints "listening http://127.0.0.1:PORT pid PID mode MODE" once ready.
// With --redis, signalr and pool run as one node of a cluster on that Redis: SignalR through its Redis backplane,
// the pool through WebSocketPool.Redis (cross-node sends, cluster-wide per-user limit, leases with LeaseTtl).
if (args.Length == 0 || !Enum.TryParse<ServerMode>(args[0], ignoreCase: true, out var mode))
{
    Console.Error.WriteLine("usage: LoadHarness.Server bare|barequeued|signalr|pool [--port N] [--cap N] [--redis HOST:PORT] [--lease-ttl SECONDS]");
    return 2;
}

var port = 0;
var cap = 19_000;
string? redis = null;
const string clusterPrefix = "bench"; // Redis keys and channels of both clusters (each cluster run gets a Redis of its own)
var leaseTtl = TimeSpan.FromSeconds(15);
for (var i = 1; i + 1 < args.Length; i += 2)
{
    switch (args[i])
    {
        case "--port":
            port = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            break;
        case "--cap":
            cap = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            break;
        case "--redis":
            redis = args[i + 1];
            break;
        case "--lease-ttl":
            leaseTtl = TimeSpan.FromSeconds(double.Parse(args[i + 1], CultureInfo.InvariantCulture));
            break;
        default:
            Console.Error.WriteLine($"unknown option {args[i]}");
            return 2;
    }
}

if (redis is not null && mode is ServerMode.Bare or ServerMode.BareQueued)
{
    Console.Error.WriteLine("--redis applies to signalr and pool only: bare Kestrel has no scale-out.");
    return 2;
}

var keepAliveInterval = TimeSpan.FromSeconds(15);
var keepAliveTimeout = TimeSpan.FromSeconds(30);
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });

// The same Kestrel, logging and keep-alive settings in every mode.
builder.Logging.ClearProviders();
builder.Logging.AddSimpleConsole();
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.AddServerHeader = false;
    kestrel.Limits.MaxConcurrentConnections = null;
    kestrel.Limits.MaxConcurrentUpgradedConnections = null;
    kestrel.Listen(IPAddress.Loopback, port);
});
builder.Services.AddSingleton<ReleaseLog>();
builder.Services.AddSingleton<ConnectionCounter>();
builder.Services.AddSingleton<BareRegistry>();
builder.Services.AddSingleton<QueuedBareRegistry>();

switch (mode)
{
    case ServerMode.SignalR:
        var signalR = builder.Services.AddSignalR(o =>
        {
            o.KeepAliveInterval = keepAliveInterval;
            o.ClientTimeoutInterval = keepAliveTimeout;
            o.MaximumReceiveMessageSize = 64 * 1024;
            o.EnableDetailedErrors = false;
        });
        if (redis is not null)
        {
            // SignalR's own backplane: Clients.User publishes on the user's channel, which the nodes holding that
            // user's connections subscribe to.
            signalR.AddStackExchangeRedis(redis, o => o.Configuration.ChannelPrefix = StackExchange.Redis.RedisChannel.Literal(clusterPrefix));
        }

        builder.Services.AddSingleton<IUserIdProvider, QueryStringUserIdProvider>();
        break;
    case ServerMode.Pool:
        var pool = builder.Services.AddWebSocketPooling(o =>
        {
            o.MaxConnections = cap;
            o.MaxConnectionsPerUser = 10;
            o.KeepAliveInterval = keepAliveInterval;
            o.KeepAliveTimeout = keepAliveTimeout;
            o.MaxMessageBytes = 64 * 1024;

            // A trigger call queues up to 10,000 messages per connection at once; the default 256 would (correctly)
            // disconnect the receivers as slow consumers. Capacity is a bound, not an allocation.
            o.SendQueueCapacity = 16_384;
        })
            .AddHandler<PoolEchoHandler>()
            .AddUserKeyResolver<EchoServer.QueryStringUserKeyResolver>();
        if (redis is not null)
        {
            // IWebSocketSender becomes the cluster-wide sender, and MaxConnectionsPerUser counts every node's connections.
            pool.AddRedis(o =>
            {
                o.Configuration = redis;
                o.Prefix = clusterPrefix;
                o.LeaseTtl = leaseTtl;
            });
        }

        break;
    default:
        break;
}

var app = builder.Build();
switch (mode)
{
    case ServerMode.Bare:
        app.UseWebSockets(new Microsoft.AspNetCore.Builder.WebSocketOptions { KeepAliveInterval = keepAliveInterval, KeepAliveTimeout = keepAliveTimeout });
        app.Map("/ws", (HttpContext context, BareRegistry registry, ReleaseLog releases) => BareEchoEndpoint.HandleAsync(context, registry, releases));
        break;
    case ServerMode.BareQueued:
        app.UseWebSockets(new Microsoft.AspNetCore.Builder.WebSocketOptions { KeepAliveInterval = keepAliveInterval, KeepAliveTimeout = keepAliveTimeout });
        app.Map("/ws", (HttpContext context, QueuedBareRegistry registry, ReleaseLog releases) => QueuedBareEchoEndpoint.HandleAsync(context, registry, releases));
        break;
    case ServerMode.SignalR:
        app.UseWebSockets(new Microsoft.AspNetCore.Builder.WebSocketOptions { KeepAliveInterval = keepAliveInterval, KeepAliveTimeout = keepAliveTimeout });
        app.MapHub<BenchHub>("/hub", o => o.Transports = HttpTransportType.WebSockets);
        break;
    case ServerMode.Pool:
        app.UseWebSocketPooling();
        app.MapWebSocketPoolStats("/stats");
        break;
    default:
        break;
}

int ConnectionCount(IServiceProvider services) => mode switch
{
    ServerMode.Bare => services.GetRequiredService<BareRegistry>().Count,
    ServerMode.BareQueued => services.GetRequiredService<QueuedBareRegistry>().Count,
    ServerMode.SignalR => services.GetRequiredService<ConnectionCounter>().Count,
    _ => services.GetRequiredService<PooledWebSocketManagerFactory>().ActiveConnections,
};

app.MapGet("/bench/stats", (HttpContext context) =>
{
    var gc = context.Request.Query["gc"] == "1";
    var managed = gc ? ProcessStats.ManagedHeapAfterFullGc() : GC.GetTotalMemory(forceFullCollection: false);
    var stats = new Dictionary<string, object?>
    {
        ["mode"] = mode.ToString().ToLowerInvariant(),
        ["pid"] = Environment.ProcessId,
        ["connections"] = ConnectionCount(context.RequestServices),
        ["rssBytes"] = ProcessStats.ResidentBytes(),
        ["managedHeapBytes"] = managed,
        ["managedHeapAfterGc"] = gc,
        ["cpuSeconds"] = ProcessStats.CpuSeconds(),
        ["threads"] = System.Diagnostics.Process.GetCurrentProcess().Threads.Count,
        ["redis"] = redis,
        ["leaseTtlSeconds"] = redis is not null && mode == ServerMode.Pool ? leaseTtl.TotalSeconds : null,
    };
    if (mode == ServerMode.Pool)
    {
        var snapshot = context.RequestServices.GetRequiredService<PooledWebSocketManagerFactory>().GetSnapshot(0);
        stats["pooledManagers"] = snapshot.PooledManagers;
        stats["warmManagers"] = snapshot.WarmManagers;
        stats["rejected"] = snapshot.Rejected;
    }

    return Results.Json(stats);
});

app.MapGet("/bench/releases", (ReleaseLog releases) => Results.Json(releases.Drain(1_000_000)));

// With stamp=1 every message carries the Stopwatch timestamp of its send (BenchPayload.Stamped*), still 32 bytes, so
// receivers in another process can tell each message's latency; the cluster benchmark sends this way. The sends are
// awaited one after another, as an app's loop would; with concurrent=1 all of them are started first and then
// awaited together, which lets a sender whose await includes a Redis round trip (SignalR's backplane) pipeline them.
app.MapPost("/bench/send-to-user", async (HttpContext context) =>
{
    var user = context.Request.Query["user"].ToString();
    var count = Math.Clamp(int.TryParse(context.Request.Query["count"], out var c) ? c : 1, 1, 100_000);
    var stamp = context.Request.Query["stamp"] == "1";
    var ct = context.RequestAborted;
    var services = context.RequestServices;
    long delivered = 0;
    if (context.Request.Query["concurrent"] == "1")
    {
        var sends = new Task<int>[count];
        for (var i = 0; i < count; i++)
        {
            sends[i] = SendOnceAsync().AsTask();
        }

        foreach (var n in await Task.WhenAll(sends))
        {
            delivered += n;
        }
    }
    else
    {
        for (var i = 0; i < count; i++)
        {
            delivered += await SendOnceAsync();
        }
    }

    return Results.Json(new { sent = count, delivered });

    ValueTask<int> SendOnceAsync() => mode switch
    {
        ServerMode.Bare => new(services.GetRequiredService<BareRegistry>().SendToUserAsync(user, stamp ? BenchPayload.StampedBytes() : BenchPayload.Bytes, ct)),
        ServerMode.BareQueued => new(services.GetRequiredService<QueuedBareRegistry>().SendToUser(user, stamp ? BenchPayload.StampedBytes() : BenchPayload.Bytes)),
        ServerMode.SignalR => new(SendSignalRAsync(services.GetRequiredService<IHubContext<BenchHub>>().Clients.User(user), stamp ? BenchPayload.StampedText() : BenchPayload.Text, ct)),
        _ => services.GetRequiredService<IWebSocketSender>().SendToUserAsync(user, stamp ? BenchPayload.StampedBytes() : BenchPayload.Bytes, System.Net.WebSockets.WebSocketMessageType.Text, ct),
    };
});

app.MapPost("/bench/broadcast", async (HttpContext context) =>
{
    var count = Math.Clamp(int.TryParse(context.Request.Query["count"], out var c) ? c : 1, 1, 100_000);
    var ct = context.RequestAborted;
    long delivered = 0;
    for (var i = 0; i < count; i++)
    {
        delivered += mode switch
        {
            ServerMode.Bare => await context.RequestServices.GetRequiredService<BareRegistry>().BroadcastAsync(BenchPayload.Bytes, ct),
            ServerMode.BareQueued => context.RequestServices.GetRequiredService<QueuedBareRegistry>().Broadcast(BenchPayload.Bytes),
            ServerMode.SignalR => await SendSignalRAsync(context.RequestServices.GetRequiredService<IHubContext<BenchHub>>().Clients.All, BenchPayload.Text, ct),
            _ => await context.RequestServices.GetRequiredService<IWebSocketSender>().SendToAllAsync(BenchPayload.Bytes, System.Net.WebSockets.WebSocketMessageType.Text, ct),
        };
    }

    return Results.Json(new { sent = count, delivered });
});

// Pool nodes of a cluster: the user's connections on every node, from the leases in Redis (a killed node's leases
// stop counting once its heartbeat has expired, within LeaseTtl).
app.MapGet("/bench/cluster-count", async (HttpContext context) =>
{
    if (context.RequestServices.GetService<WebSocketClusterPresence>() is not { } presence)
    {
        return Results.Problem("Only pool nodes started with --redis count across the cluster.", statusCode: StatusCodes.Status404NotFound);
    }

    var user = context.Request.Query["user"].ToString();
    if (string.IsNullOrEmpty(user))
    {
        return Results.Problem("Query parameter 'user' is required.", statusCode: StatusCodes.Status400BadRequest);
    }

    var count = await presence.GetConnectionCountAsync(user, context.RequestAborted);
    return Results.Json(new { user, count, clusterWide = presence.IsClusterWide });
});

app.MapPost("/bench/shutdown", (IHostApplicationLifetime lifetime) =>
{
    lifetime.StopApplication();
    return Results.Ok();
});

await app.StartAsync();
var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
Console.WriteLine($"listening {address} pid {Environment.ProcessId} mode {mode.ToString().ToLowerInvariant()}");
await app.WaitForShutdownAsync();
return 0;

// SignalR's SendAsync to a user or to all does not say how many connections it reached; the client counts deliveries.
static async Task<int> SendSignalRAsync(IClientProxy clients, string text, CancellationToken cancellationToken)
{
    await clients.SendAsync("m", text, cancellationToken);
    return 0;
}

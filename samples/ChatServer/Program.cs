// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using ChatServer;
using ChatServer.Sessions;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Serilog;
using StackExchange.Redis;
using WebSocketPool;
using WebSocketPool.Redis;
using WebSocketPool.Samples;

// The content root is the app's own folder, so appsettings.json and wwwroot are found from any working directory.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions
{
    Args = args,
    ContentRootPath = AppContext.BaseDirectory,
});

// Serilog for request and connection logs; levels come from the "Serilog" section of appsettings.json.
builder.Services.AddSerilog((services, logger) => logger
    .ReadFrom.Configuration(builder.Configuration)
    .ReadFrom.Services(services)
    .Enrich.FromLogContext()
    .WriteTo.Console());

// Sign-in: POST /login sets the auth cookie, and the WebSocket handshake carries it. Each cookie carries a session
// stamp that POST /logout revokes, and the page's posts carry antiforgery tokens (ChatAuthentication, AccountEndpoints).
builder.Services.AddChatAuthentication(builder.Configuration);
builder.Services.AddProblemDetails();

// The pools: options from the "WebSocketPool" section (or --WebSocketPool:Option=value); the notifications pool's own
// values from "WebSocketPool:Pools:notify" over them. Handlers are given where the pools are mapped, below.
var pool = builder.Services.AddWebSocketPooling();
builder.Services.AddSingleton<ChatPresence>();
builder.Services.AddHealthChecks().AddWebSocketPoolHealthCheck().AddNamedWebSocketPoolHealthCheck(NotifyHandler.PoolName);

// Operators' views: OpenTelemetry (Prometheus at /metrics, the pool's spans) and the library's dashboard.
builder.Services.AddChatTelemetry();
builder.Services.AddChatDashboard(builder.Configuration);

// A node of a cluster (--Redis:Configuration=HOST:PORT): chat, DMs, presence and per-user limits span every node
// using the same Redis and prefix.
ConnectionMultiplexer? redis = null;
if (builder.Configuration["Redis:Configuration"] is { Length: > 0 } redisConfiguration)
{
    // The pool and the key ring share one multiplexer: the app makes it and passes it to AddRedis, which binds the
    // other options from the Redis section as AddRedis(section) does (an unknown key is an error).
    var redisSection = builder.Configuration.GetSection(RedisWebSocketPoolOptions.SectionName);
    redis = ConnectRedis(redisConfiguration);
    pool.AddRedis(redis, options => redisSection.Bind(options, static binder => binder.ErrorOnUnknownConfiguration = true));

    // Any node must read the cookie another node issued: one key ring, in the same Redis, under one application name.
    var prefix = redisSection[nameof(RedisWebSocketPoolOptions.Prefix)] is { Length: > 0 } configured ? configured : new RedisWebSocketPoolOptions().Prefix;
    builder.Services.AddDataProtection()
        .SetApplicationName("ChatServer")
        .PersistKeysToStackExchangeRedis(redis, prefix + ":dataprotection-keys");

    // A sign-out on any node revokes the session on all of them: the session stamps live in the same Redis.
    builder.Services.AddSingleton<ISessionStampStore>(sp => new RedisSessionStampStore(redis, prefix, sp.GetRequiredService<SessionSettings>()));

    // The presence panel follows the cluster: refreshed on a timer too, so that a node that died drops out of it.
    builder.Services.AddHostedService<ChatPresenceRefresher>();
}

// Alone, sign-outs are remembered in memory (until the process restarts).
builder.Services.TryAddSingleton<ISessionStampStore, InMemorySessionStampStore>();

var app = builder.Build();

app.UseSerilogRequestLogging();
app.UseSecurityHeaders();
app.UseDefaultFiles();      // GET / -> wwwroot/index.html
app.UseStaticFiles();
app.UseAuthentication();    // the pools read the user the cookie established
app.UseAuthorization();     // endpoint policies: the dashboard's operators (Dashboard:Operators)

// The chat pool at /ws (--WebSocketPool:Path moves it) and the notifications pool at /ws/notify, each deciding admission
// (401, 403, 429, 503) before the upgrade. Neither endpoint requires authorization: each pool answers 401 with a problem
// body itself, where the cookie scheme would redirect to a login page. (The one-pool form, app.UseWebSocketPooling()
// with AddHandler<ChatHandler>(), serves the same chat pool; the EchoServer sample uses it.)
app.MapWebSocketPool<ChatHandler>(app.Services.GetRequiredService<IOptions<WebSocketPoolOptions>>().Value.Path);
app.MapWebSocketPool<NotifyHandler>("/ws/notify", NotifyHandler.PoolName);

app.MapAccountEndpoints();  // POST /login, POST /logout, GET /antiforgery
app.MapWebSocketPoolStats("/stats").RequireLoopbackUnlessConfigured(); // ?pool=notify for the notifications pool
app.MapHealthChecks("/health", new HealthCheckOptions
{
    // The status word as the body; 200 for Healthy and Degraded, 503 for Unhealthy (the framework's default codes).
    ResponseWriter = static (context, report) => context.Response.WriteAsync(report.Status.ToString()),
}).RequireLoopbackUnlessConfigured();
app.MapPrometheusScrapingEndpoint("/metrics").RequireLoopbackUnlessConfigured();
app.MapChatDashboard(builder.Configuration);  // /admin/websockets

app.Run();
redis?.Dispose();

// One multiplexer for the pool and the key ring. It starts while Redis is down, and fails commands at once instead of
// queueing them behind a dead connection, so the pool's failure policy can act.
static ConnectionMultiplexer ConnectRedis(string configuration)
{
    var options = ConfigurationOptions.Parse(configuration);
    options.AbortOnConnectFail = false;
    options.BacklogPolicy = BacklogPolicy.FailFast;
    options.ClientName ??= "chatserver";
    return ConnectionMultiplexer.Connect(options);
}

/// <summary>The entry point, visible to integration tests (<c>WebApplicationFactory&lt;Program&gt;</c>).</summary>
public partial class Program;

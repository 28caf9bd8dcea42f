// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using EchoServer;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using WebSocketPool.Redis;
using WebSocketPool.Samples;

// The content root is the app's own folder, so appsettings.json is found from any working directory.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions
{
    Args = args,
    ContentRootPath = AppContext.BaseDirectory,
});

builder.Services.AddHttpContextAccessor(); // EchoHandler reads ?group= on connect.
var pool = builder.Services.AddWebSocketPooling()
    .AddHandler<EchoHandler>()
    .AddUserKeyResolver<QueryStringUserKeyResolver>();
if (builder.Configuration["Redis:Configuration"] is { Length: > 0 })
{
    // A node of a cluster: sends and per-user limits span every node using the same Redis (options: the Redis section).
    pool.AddRedis(builder.Configuration.GetSection(RedisWebSocketPoolOptions.SectionName));
}

builder.Services.AddHealthChecks().AddWebSocketPoolHealthCheck();

var app = builder.Build();

app.UseWebSocketPooling();
app.MapWebSocketPoolStats("/stats").RequireLoopbackUnlessConfigured();
app.MapHealthChecks("/health", new HealthCheckOptions
{
    // The status word as the body; 200 for Healthy and Degraded, 503 for Unhealthy (the framework's default codes).
    ResponseWriter = static (context, report) => context.Response.WriteAsync(report.Status.ToString()),
}).RequireLoopbackUnlessConfigured();

// Demo only: POST /broadcast?text=… and POST /group/{name}/send?text=… (loopback only, like /stats).
app.MapDiagnosticSends();

app.Run();

/// <summary>The entry point, visible to integration tests (<c>WebApplicationFactory&lt;Program&gt;</c>).</summary>
public partial class Program;

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using WebSocketPool;

namespace ChatServer;

/// <summary>
/// OpenTelemetry for the chat: the pool's meter, ASP.NET Core's and the runtime's, scraped by Prometheus at
/// <c>GET /metrics</c> (mapped in Program.cs, loopback-only unless <c>Diagnostics:AllowRemote</c>); and the pool's
/// spans beside ASP.NET Core's request spans. No trace exporter is configured, so nothing connects anywhere by default:
/// add one (for example OTLP, <c>AddOtlpExporter()</c> from OpenTelemetry.Exporter.OpenTelemetryProtocol) to ship them.
/// </summary>
internal static class ChatTelemetry
{
    /// <summary>The built-in meters besides the pool's: requests, Kestrel's connections, and the runtime (GC, threads, ...).</summary>
    private static readonly string[] s_meters =
    [
        WebSocketPoolTelemetry.MeterName,
        "Microsoft.AspNetCore.Hosting",
        "Microsoft.AspNetCore.Server.Kestrel",
        "System.Runtime",
    ];

    public static IServiceCollection AddChatTelemetry(this IServiceCollection services)
    {
        services.AddOpenTelemetry()
            .ConfigureResource(static resource => resource.AddService("ChatServer"))
            .WithMetrics(static metrics => metrics.AddMeter(s_meters).AddPrometheusExporter())
            .WithTracing(static tracing => tracing.AddSource(WebSocketPoolTelemetry.ActivitySourceName, "Microsoft.AspNetCore"));
        return services;
    }
}

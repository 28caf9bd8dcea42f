// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool;

/// <summary>
/// The names an app registers with its telemetry: the meter (<c>AddMeter</c>) and the activity source
/// (<c>AddSource</c>). Both are <c>WebSocketPool</c>, the package's name.
/// </summary>
public static class WebSocketPoolTelemetry
{
    /// <summary>The name of the pool's <see cref="System.Diagnostics.Metrics.Meter"/>.</summary>
    public const string MeterName = "WebSocketPool";

    /// <summary>
    /// The name of the pool's <see cref="System.Diagnostics.ActivitySource"/>: a span <c>websocketpool.upgrade</c> per
    /// WebSocket upgrade attempt (admitted or refused) and a span <c>websocketpool.connection.end</c> per accepted
    /// connection's end, linked to its upgrade span.
    /// </summary>
    public const string ActivitySourceName = "WebSocketPool";
}

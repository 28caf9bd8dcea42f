// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace LoadHarness.Client;

/// <summary>One figure of the report: where it is in a run's JSON, how to show it, and which way is better.</summary>
internal sealed record MetricDefinition(string Scenario, string Field, string Label, string Unit, double Scale, bool HigherIsBetter, bool Chart)
{
    public string Id => $"{Scenario}.{Field}";

    public static readonly MetricDefinition[] All =
    [
        new("idle", "rssPerConnectionBytes", "Memory per idle connection (RSS delta / N)", "KB", 1 / 1024.0, false, true),
        new("idle", "heapPerConnectionBytes", "Managed heap per idle connection (after forced GC)", "KB", 1 / 1024.0, false, false),
        new("cap", "held", "Idle connections held at the cap", "connections", 1, true, false),
        new("cap", "failed", "Failed connects below the cap", "connections", 1, false, false),
        new("cap", "overflow503", "Attempts beyond the cap answered 503 (pool)", "of 100", 1, true, false),
        new("churn", "cyclesPerSecond", "Connect + close churn", "cycles/s", 1, true, true),
        new("churn", "serverMicrosPerCycle", "Server CPU per connect + close", "µs", 1, false, false),
        new("churn", "releaseP50Ms", "Close → release p50", "ms", 1, false, false),
        new("churn", "releaseP99Ms", "Close → release p99", "ms", 1, false, false),
        new("churn", "releaseMaxMs", "Close → release max", "ms", 1, false, false),
        new("churn", "releasedWithin100MsPct", "Released within 100 ms of the close", "%", 1, true, false),
        new("echo", "roundTripsPerSecond", "Echo round trips (100 connections, 32 B)", "round trips/s", 1, true, true),
        new("echo", "serverMicrosPerRoundTrip", "Server CPU per echo round trip", "µs", 1, false, false),
        new("echo", "p50Ms", "Echo latency p50", "ms", 1, false, false),
        new("echo", "p99Ms", "Echo latency p99", "ms", 1, false, true),
        new("sendToUser", "deliveredPerSecond", "Send to one user with 10 connections (no other connections)", "messages/s", 1, true, true),
        new("sendToUser", "serverMicrosPerMessage", "Server CPU per delivered message, send to user", "µs", 1, false, false),
        new("sendToUserAmongOthers", "deliveredPerSecond", "Send to one user with 10 connections, other users' idle connections open", "messages/s", 1, true, true),
        new("broadcast", "deliveredPerSecond", "Broadcast to 100 connections", "messages/s", 1, true, true),
        new("broadcast", "serverMicrosPerMessage", "Server CPU per delivered message, broadcast", "µs", 1, false, false),
        new("broadcastChurn", "connectP50IdleMs", "Connect p50 while churning among idle connections, no broadcast", "ms", 1, false, false),
        new("broadcastChurn", "connectP99IdleMs", "Connect p99 while churning among idle connections, no broadcast", "ms", 1, false, false),
        new("broadcastChurn", "connectP50BroadcastMs", "Connect p50 while churning, broadcasts to all of them going on", "ms", 1, false, false),
        new("broadcastChurn", "connectP99BroadcastMs", "Connect p99 while churning, broadcasts to all of them going on", "ms", 1, false, true),
        new("broadcastChurn", "connectP99BroadcastToIdle", "Connect p99 during broadcasts ÷ without", "×", 1, false, false),
        new("broadcastChurn", "broadcastsPerSecond", "Broadcasts completed during the churn (paced)", "broadcasts/s", 1, true, false),
    ];
}

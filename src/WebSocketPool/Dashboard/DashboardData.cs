// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Internal;

/// <summary>What the dashboard page polls (camelCase JSON). Times are Unix milliseconds, durations milliseconds.</summary>
internal sealed record DashboardData(
    string Pool,
    long Now,
    long SampleInterval,
    long History,
    IReadOnlyList<string> Reasons,
    IReadOnlyList<DashboardPoint> Samples,
    int ActiveConnections,
    int MaxConnections,
    int UserCount,
    bool Draining,
    IReadOnlyList<UserConnectionCount> Users,
    IReadOnlyDictionary<string, long> Rejected,
    long Evicted,
    DashboardHealth Health,
    DashboardKick? Kick);

/// <summary>The pool's health check, as the page shows it.</summary>
internal sealed record DashboardHealth(string Status, string? Description);

/// <summary>Present when the caller may kick: the antiforgery token the kick must carry, and its header.</summary>
internal sealed record DashboardKick(string HeaderName, string Token);

/// <summary>The answer to a kick.</summary>
internal sealed record DashboardKickResult(string User, int Closed, int CloseCode);

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Benchmarks.Baselines;

/// <summary>
/// A per-connection manager as the original design built it: created for every connection, never reused, holding
/// its own identity, timestamps, state bag, send lock and cancellation source.
/// </summary>
internal sealed class LegacyManager : IDisposable
{
    public LegacyManager(string userId, string connectionId, string key, DateTime createdAt)
    {
        UserId = userId;
        ConnectionId = connectionId;
        Key = key;
        CreatedAt = createdAt;
        LastActivity = createdAt;
    }

    public string UserId { get; }

    public string ConnectionId { get; }

    public string Key { get; }

    public DateTime CreatedAt { get; }

    public DateTime LastActivity { get; set; }

    public Dictionary<string, object?> State { get; } = new(StringComparer.Ordinal);

    public SemaphoreSlim SendLock { get; } = new(1, 1);

    public CancellationTokenSource Lifetime { get; } = new();

    public void Dispose()
    {
        Lifetime.Dispose();
        SendLock.Dispose();
    }
}

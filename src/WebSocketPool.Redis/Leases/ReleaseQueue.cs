// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;
using StackExchange.Redis;

namespace WebSocketPool.Redis.Internal;

/// <summary>A release to send to Redis: the lease, and the victim it was admitted in place of while its socket was not accepted yet.</summary>
internal readonly record struct PendingRelease(string User, string Id, string? HandedOverFrom);

/// <summary>
/// Sends releases to Redis the moment a slot is given up, and keeps those Redis could not take for the next heartbeat.
/// A kept release is never dropped by age: a lease lives as long as its node's heartbeat, so a release lost would leave
/// the slot taken. The queue stays bounded by the leases this node held in Redis when it lost contact.
/// </summary>
internal sealed class ReleaseQueue(RedisConnection connection, RedisWebSocketPoolOptions options, int limit)
{
    private ConcurrentQueue<PendingRelease> _pending = new();

    public int Count => Volatile.Read(ref _pending).Count;

    /// <summary>Under <see cref="LeaseTable.IssueLock"/>: sends the release now, or keeps it for when Redis is back.</summary>
    public void Issue(PendingRelease release)
    {
        if (!connection.TryGetDatabase(out var database))
        {
            Keep(release);
            return;
        }

        try
        {
            RedisValue[] args = release.HandedOverFrom is null
                ? [connection.Keys.Tag, release.User, release.Id]
                : [connection.Keys.Tag, release.User, release.Id, release.HandedOverFrom, (long)options.LeaseTtl.TotalMilliseconds, limit];
            var task = database.ScriptEvaluateAsync(RedisScripts.Release, connection.Keys.Routing, args);
            if (!task.IsCompletedSuccessfully)
            {
                _ = ObserveAsync(task, release);
            }
        }
        catch (RedisException ex)
        {
            connection.MarkFailed("release", ex);
            Keep(release);
        }
    }

    /// <summary>
    /// Under <see cref="LeaseTable.IssueLock"/>: sends what was kept. Takes the kept releases as one snapshot first, so
    /// a release that fails again waits for the next drain instead of feeding this one: the loop always ends.
    /// </summary>
    public void Drain(CancellationToken cancellationToken = default)
    {
        if (Volatile.Read(ref _pending).IsEmpty)
        {
            return;
        }

        var snapshot = Interlocked.Exchange(ref _pending, new ConcurrentQueue<PendingRelease>());
        while (snapshot.TryDequeue(out var release))
        {
            if (cancellationToken.IsCancellationRequested)
            {
                Keep(release);
                continue;
            }

            Issue(release);
        }
    }

    /// <summary>Redis lost its data (a new epoch): there is nothing left to release.</summary>
    public void Clear() => Interlocked.Exchange(ref _pending, new ConcurrentQueue<PendingRelease>());

    private void Keep(PendingRelease release) => Volatile.Read(ref _pending).Enqueue(release);

    private async Task ObserveAsync(Task task, PendingRelease release)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            connection.MarkFailed("release", ex);
            Keep(release);
        }
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;
using System.Diagnostics;

namespace LoadHarness.Server;

/// <summary>
/// Records when the server finished with a tagged connection (<c>?c=TAG</c>): for the pool, right after the lease was
/// released; for the others, when their per-connection cleanup ran. Timestamps are <see cref="Stopwatch"/> ticks,
/// which on Linux read CLOCK_MONOTONIC and so compare across processes on the same machine.
/// </summary>
internal sealed class ReleaseLog
{
    private readonly ConcurrentQueue<KeyValuePair<string, long>> _entries = new();

    public static string? TagOf(HttpContext context) => TagOf(context.Request.Query);

    public static string? TagOf(IQueryCollection query)
    {
        var tag = query["c"].ToString();
        return string.IsNullOrEmpty(tag) ? null : tag;
    }

    public void Record(string? tag)
    {
        if (tag is not null)
        {
            _entries.Enqueue(new(tag, Stopwatch.GetTimestamp()));
        }
    }

    /// <summary>Takes out everything recorded so far (bounded by <paramref name="max"/>).</summary>
    public Dictionary<string, long> Drain(int max)
    {
        var drained = new Dictionary<string, long>(StringComparer.Ordinal);
        while (drained.Count < max && _entries.TryDequeue(out var entry))
        {
            drained[entry.Key] = entry.Value;
        }

        return drained;
    }
}

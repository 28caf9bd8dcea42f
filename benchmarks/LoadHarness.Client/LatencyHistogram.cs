// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace LoadHarness.Client;

/// <summary>
/// Latencies in fixed buckets, so that tens of millions of samples take a few kilobytes: 1 µs wide up to 1 ms,
/// 10 µs up to 10 ms, 100 µs up to 100 ms, 1 ms up to 10 s, then one bucket for everything slower. A percentile is
/// the upper edge of its bucket (at most 1 % above the true value below 100 ms); the maximum is kept exactly.
/// </summary>
internal sealed class LatencyHistogram
{
    private static readonly (double UpToMs, double WidthMs)[] s_ranges = [(1, 0.001), (10, 0.01), (100, 0.1), (10_000, 1)];
    private static readonly int[] s_firstBucket = FirstBuckets();
    private readonly long[] _counts = new long[s_firstBucket[^1] + 1];

    public long Count { get; private set; }

    public double MaxMs { get; private set; }

    public void Add(double ms)
    {
        ms = Math.Max(0, ms);
        _counts[Bucket(ms)]++;
        Count++;
        MaxMs = Math.Max(MaxMs, ms);
    }

    /// <summary>Adds <paramref name="other"/>'s samples to this one.</summary>
    public void Merge(LatencyHistogram other)
    {
        for (var i = 0; i < _counts.Length; i++)
        {
            _counts[i] += other._counts[i];
        }

        Count += other.Count;
        MaxMs = Math.Max(MaxMs, other.MaxMs);
    }

    /// <summary>The non-empty buckets as <c>INDEX:COUNT,…</c> (no spaces), to pass a histogram between processes; see <see cref="AddCompact"/>.</summary>
    public string ToCompact() =>
        string.Join(',', _counts.Select((count, index) => (count, index)).Where(p => p.count > 0)
            .Select(p => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{p.index}:{p.count}")));

    /// <summary>Adds the buckets written by <see cref="ToCompact"/> and a maximum to this histogram.</summary>
    public void AddCompact(string compact, double maxMs)
    {
        foreach (var pair in compact.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = pair.Split(':');
            var count = long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
            _counts[int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture)] += count;
            Count += count;
        }

        MaxMs = Math.Max(MaxMs, maxMs);
    }

    public void Clear()
    {
        Array.Clear(_counts);
        Count = 0;
        MaxMs = 0;
    }

    /// <summary>The nearest-rank percentile (the upper edge of its bucket, never above the maximum), or null when empty.</summary>
    public double? Percentile(double percentile)
    {
        if (Count == 0)
        {
            return null;
        }

        var rank = Math.Clamp((long)Math.Ceiling(percentile / 100.0 * Count), 1, Count);
        long seen = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            seen += _counts[i];
            if (seen >= rank)
            {
                return Math.Min(UpperEdge(i), MaxMs);
            }
        }

        return MaxMs;
    }

    private static int[] FirstBuckets()
    {
        var first = new int[s_ranges.Length + 1];
        var from = 0.0;
        for (var r = 0; r < s_ranges.Length; r++)
        {
            first[r + 1] = first[r] + (int)Math.Round((s_ranges[r].UpToMs - from) / s_ranges[r].WidthMs);
            from = s_ranges[r].UpToMs;
        }

        return first; // the last entry is the overflow bucket's index
    }

    private static int Bucket(double ms)
    {
        var from = 0.0;
        for (var r = 0; r < s_ranges.Length; r++)
        {
            if (ms < s_ranges[r].UpToMs)
            {
                return Math.Min(s_firstBucket[r] + (int)((ms - from) / s_ranges[r].WidthMs), s_firstBucket[r + 1] - 1);
            }

            from = s_ranges[r].UpToMs;
        }

        return s_firstBucket[^1];
    }

    private static double UpperEdge(int bucket)
    {
        var from = 0.0;
        for (var r = 0; r < s_ranges.Length; r++)
        {
            if (bucket < s_firstBucket[r + 1])
            {
                return from + ((bucket - s_firstBucket[r] + 1) * s_ranges[r].WidthMs);
            }

            from = s_ranges[r].UpToMs;
        }

        return double.PositiveInfinity;
    }
}

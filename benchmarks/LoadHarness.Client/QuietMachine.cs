// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;

namespace LoadHarness.Client;

/// <summary>
/// Quiet-machine discipline: before a measurement, wait (bounded) until the 1-minute load average falls below the
/// threshold, and record what was seen. A figure taken at or above it is marked noisy and never called quiet.
/// </summary>
internal static class QuietMachine
{
    /// <summary>The 1-minute load average from /proc/loadavg (near 0 on a quiet machine).</summary>
    public static double LoadAverage() =>
        double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture);

    /// <summary>
    /// Polls /proc/loadavg every 2 s until the 1-minute average is below <paramref name="threshold"/> or
    /// <paramref name="maxWait"/> has passed; returns the last value seen, how long it waited, and whether it is noisy.
    /// </summary>
    public static async Task<(double Load, double WaitedSeconds, bool Noisy)> WaitAsync(double threshold, TimeSpan maxWait)
    {
        var started = Stopwatch.GetTimestamp();
        var load = LoadAverage();
        for (var i = 0; i < 10_000 && load >= threshold && Stopwatch.GetElapsedTime(started) < maxWait; i++)
        {
            var left = maxWait - Stopwatch.GetElapsedTime(started);
            await Task.Delay(left < TimeSpan.FromSeconds(2) ? (left > TimeSpan.Zero ? left : TimeSpan.Zero) : TimeSpan.FromSeconds(2)).ConfigureAwait(false);
            load = LoadAverage();
        }

        return (load, Math.Round(Stopwatch.GetElapsedTime(started).TotalSeconds, 1), load >= threshold);
    }

    /// <summary>Waits as <see cref="WaitAsync"/> does with the settings' threshold and bound; returns what it saw as result fields.</summary>
    public static async Task<JsonObject> WaitAndRecordAsync(Settings settings)
    {
        var (load, waited, noisy) = await WaitAsync(settings.QuietThreshold, settings.QuietWait).ConfigureAwait(false);
        return new JsonObject { ["loadAverage1m"] = load, ["quietWaitSeconds"] = waited, ["noisy"] = noisy };
    }

    /// <summary>Copies the fields of <see cref="WaitAndRecordAsync"/> into a scenario's result.</summary>
    public static void CopyInto(JsonObject quiet, JsonObject result)
    {
        foreach (var (key, value) in quiet)
        {
            result[key] = value?.DeepClone();
        }
    }
}

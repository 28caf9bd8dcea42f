// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;

namespace WebSocketPool.TestSupport;

/// <summary>Waits on conditions with a deadline and reports how long the wait took (for the test log, never asserted).</summary>
public static class Conditions
{
    private static readonly TimeSpan s_asyncPollInterval = TimeSpan.FromMilliseconds(25);

    /// <summary>
    /// Polls <paramref name="condition"/> (yielding, then at 1 ms intervals) until it holds, and fails with
    /// <paramref name="because"/> after <paramref name="deadline"/>.
    /// </summary>
    /// <returns>How long it took for the condition to hold.</returns>
    public static async Task<TimeSpan> WaitAsync(Func<bool> condition, TimeSpan deadline, string because)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var watch = Stopwatch.StartNew();
        var spins = 0;
        while (!condition())
        {
            if (watch.Elapsed > deadline)
            {
                throw new TimeoutException($"Condition not met within {deadline.TotalSeconds:F1} s: {because}");
            }

            if (++spins < 100)
            {
                await Task.Yield();
            }
            else
            {
                await Task.Delay(1);
            }
        }

        return watch.Elapsed;
    }

    /// <summary>
    /// Polls an asynchronous <paramref name="condition"/> (one that asks a server or Redis, so every 25 ms) until it
    /// holds, and fails with <paramref name="because"/> after <paramref name="deadline"/>.
    /// </summary>
    /// <returns>How long it took for the condition to hold.</returns>
    public static async Task<TimeSpan> WaitAsync(Func<Task<bool>> condition, TimeSpan deadline, string because)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            if (watch.Elapsed > deadline)
            {
                throw new TimeoutException($"Condition not met within {deadline.TotalSeconds:F1} s: {because}");
            }

            await Task.Delay(s_asyncPollInterval);
        }

        return watch.Elapsed;
    }

    /// <summary>
    /// Reads <paramref name="condition"/> every 25 ms until it holds, and fails with <paramref name="because"/> after
    /// <paramref name="deadline"/>. Unlike <see cref="WaitAsync(Func{bool}, TimeSpan, string)"/> it never spins, which
    /// leaves the test's synchronization context to the continuations it waits for (the Redis tests need this).
    /// </summary>
    /// <returns>How long it took for the condition to hold.</returns>
    public static Task<TimeSpan> PollAsync(Func<bool> condition, TimeSpan deadline, string because)
    {
        ArgumentNullException.ThrowIfNull(condition);
        return WaitAsync(() => Task.FromResult(condition()), deadline, because);
    }
}

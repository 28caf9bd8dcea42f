// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;

namespace WebSocketPool.Benchmarks;

/// <summary>
/// Runs the pool's steady-state reserve + lease + release (<c>TryAdmit</c> then <c>Abandon</c>) in a tight loop for a
/// fixed time, so that a sampling profiler can attach: <c>dotnet-trace collect -- dotnet WebSocketPool.Benchmarks.dll
/// --lease-loop 10</c>.
/// </summary>
internal static class LeaseLoop
{
    public static void Run(TimeSpan duration)
    {
        var (factory, services) = PoolFactories.Create(new WebSocketPoolOptions { MaxConnectionsPerUser = 10, MaxConnections = 10_000 });
        using (services)
        using (factory)
        {
            var started = Stopwatch.GetTimestamp();
            long operations = 0;
            while (Stopwatch.GetElapsedTime(started) < duration && operations < 10_000_000_000)
            {
                for (var i = 0; i < 10_000; i++)
                {
                    var admission = factory.TryAdmit("user-0");
                    factory.Abandon(admission);
                }

                operations += 10_000;
            }

            var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            Console.WriteLine(FormattableString.Invariant($"{operations} lease+release in {seconds:F1} s: {seconds * 1e9 / operations:F1} ns each"));
        }
    }
}

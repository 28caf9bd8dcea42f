// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using System.Globalization;

namespace LoadHarness.Client;

/// <summary>CPU seconds (user + system) of a process, read from /proc/PID/stat.</summary>
internal static class Cpu
{
    public static double SecondsOf(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
        }
        catch (IOException)
        {
            return double.NaN;
        }
    }

    public static double Self() => SecondsOf(Environment.ProcessId);

    /// <summary>Measures client and server CPU over a span of work, as cores used (CPU seconds per wall second).</summary>
    public sealed class Meter(int serverPid)
    {
        private readonly double _client0 = Self();
        private readonly double _server0 = SecondsOf(serverPid);
        private readonly long _start = Stopwatch.GetTimestamp();

        public (double ClientCores, double ServerCores) Stop(double extraClientSeconds = 0)
        {
            var wall = Stopwatch.GetElapsedTime(_start).TotalSeconds;
            var client = (Self() - _client0 + extraClientSeconds) / wall;
            var server = (SecondsOf(serverPid) - _server0) / wall;
            return (Math.Round(client, 3), Math.Round(server, 3));
        }
    }
}

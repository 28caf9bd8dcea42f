// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;

namespace LoadHarness.Client;

/// <summary>CPU seconds (user + system) of a process, read from /proc/PID/stat, and how busy given cores were, from /proc/stat.</summary>
internal static class Cpu
{
    /// <summary>A run where the client (or, when pinned, the client's core) was this busy measured the client.</summary>
    public const double ClientBoundCores = 0.9;

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

    /// <summary>Busy and total jiffies of the given CPUs summed (busy = everything but idle and iowait), from /proc/stat.</summary>
    public static (long Busy, long Total) CoreTicks(IReadOnlyList<int> cpus)
    {
        long busy = 0, total = 0;
        foreach (var line in File.ReadLines("/proc/stat"))
        {
            if (!line.StartsWith("cpu", StringComparison.Ordinal) || line.Length < 4 || !char.IsDigit(line[3]))
            {
                continue;
            }

            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (!cpus.Contains(int.Parse(fields[0].AsSpan(3), CultureInfo.InvariantCulture)))
            {
                continue;
            }

            long sum = 0;
            for (var i = 1; i < Math.Min(fields.Length, 9); i++)
            {
                sum += long.Parse(fields[i], CultureInfo.InvariantCulture);
            }

            var idle = long.Parse(fields[4], CultureInfo.InvariantCulture) + long.Parse(fields[5], CultureInfo.InvariantCulture);
            busy += sum - idle;
            total += sum;
        }

        return (busy, total);
    }

    /// <summary>
    /// Measures client and server CPU over a span of work, as cores used (CPU seconds per wall second), and when the
    /// processes are pinned, how busy the client's and the server's cores were (0–1, whoever used them).
    /// </summary>
    public sealed class Meter(int serverPid)
    {
        private readonly double _client0 = Self();
        private readonly double _server0 = SecondsOf(serverPid);
        private readonly long _start = Stopwatch.GetTimestamp();
        private readonly (long Busy, long Total)? _clientCore0 = Pinning.Enabled ? CoreTicks(Pinning.Parse(Pinning.ClientCpus)) : null;
        private readonly (long Busy, long Total)? _serverCore0 = Pinning.Enabled ? CoreTicks(Pinning.Parse(Pinning.ServerCpus)) : null;

        /// <summary>The client's core(s) busy share over the span (null when not pinned); set by <see cref="Stop"/>.</summary>
        public double? ClientCoreBusy { get; private set; }

        /// <summary>The server's core(s) busy share over the span (null when not pinned); set by <see cref="Stop"/>.</summary>
        public double? ServerCoreBusy { get; private set; }

        public (double ClientCores, double ServerCores) Stop(double extraClientSeconds = 0)
        {
            var wall = Stopwatch.GetElapsedTime(_start).TotalSeconds;
            var client = (Self() - _client0 + extraClientSeconds) / wall;
            var server = (SecondsOf(serverPid) - _server0) / wall;
            ClientCoreBusy = Share(_clientCore0, Pinning.ClientCpus);
            ServerCoreBusy = Share(_serverCore0, Pinning.ServerCpus);
            return (Math.Round(client, 3), Math.Round(server, 3));
        }

        /// <summary>
        /// Client-bound: when pinned, the client's core was at least <see cref="ClientBoundCores"/> busy (the client and
        /// its child processes together); otherwise the client process alone used that much of a core.
        /// </summary>
        public bool IsClientBound(double clientCores) => ClientCoreBusy is { } busy ? busy >= ClientBoundCores : clientCores >= ClientBoundCores;

        /// <summary>Writes the CPU figures and the client-bound flag into a scenario's result.</summary>
        public void Record(JsonObject result, double clientCores, double serverCores)
        {
            result["clientCores"] = clientCores;
            result["serverCores"] = serverCores;
            result["clientCoreBusy"] = ClientCoreBusy;
            result["serverCoreBusy"] = ServerCoreBusy;
            result["clientBound"] = IsClientBound(clientCores);
        }

        /// <summary>
        /// Server CPU microseconds per unit of work (<paramref name="perSecond"/> units a second): when the client is
        /// the bottleneck the rates converge, and this stays comparable between servers.
        /// </summary>
        public static double? MicrosPer(double serverCores, double perSecond) =>
            perSecond > 0 && !double.IsNaN(serverCores) ? Math.Round(serverCores / perSecond * 1e6, 3) : null;

        private static double? Share((long Busy, long Total)? start, string? cpus)
        {
            if (start is not { } s)
            {
                return null;
            }

            var (busy, total) = CoreTicks(Pinning.Parse(cpus));
            return total == s.Total ? null : Math.Round((busy - s.Busy) / (double)(total - s.Total), 3);
        }
    }
}

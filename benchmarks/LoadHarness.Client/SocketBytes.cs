// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace LoadHarness.Client;

/// <summary>
/// Bytes each process moved on its TCP connections to one port, from the kernel's per-socket counters
/// (<c>ss -tinp</c>: <c>bytes_acked</c> sent and acknowledged, <c>bytes_received</c>), summed per process id. Used for
/// the bytes a cluster node exchanges with Redis: the OS counts them the same way for every client library, and
/// Redis 7.0 has no per-client byte counters (CLIENT LIST's tot-net-in/out came with 7.2).
/// </summary>
internal static partial class SocketBytes
{
    /// <summary>Sent and received bytes by process id, or null when <c>ss</c> is missing or fails.</summary>
    public static async Task<Dictionary<int, (long Sent, long Received)>?> ToPortAsync(int port)
    {
        var info = new ProcessStartInfo("ss") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "-tinpH", "state", "established", $"( dport = :{port} )" })
        {
            info.ArgumentList.Add(arg);
        }

        string output;
        try
        {
            using var process = Process.Start(info)!;
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            var reading = process.StandardOutput.ReadToEndAsync(timeout.Token);
            _ = process.StandardError.ReadToEndAsync(timeout.Token);
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            output = await reading.ConfigureAwait(false);
            if (process.ExitCode != 0)
            {
                return null;
            }
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or OperationCanceledException)
        {
            return null;
        }

        // A socket's line names its process (users:(("dotnet",pid=123,fd=45))); the indented line after it has its counters.
        var totals = new Dictionary<int, (long Sent, long Received)>();
        var pid = -1;
        foreach (var line in output.Split('\n'))
        {
            if (line.Length == 0)
            {
                continue;
            }

            if (!char.IsWhiteSpace(line[0]))
            {
                var owner = PidPattern().Match(line);
                pid = owner.Success ? int.Parse(owner.Groups[1].Value, CultureInfo.InvariantCulture) : -1;
                continue;
            }

            if (pid < 0)
            {
                continue;
            }

            var sent = Counter(line, "bytes_acked");
            var received = Counter(line, "bytes_received");
            var (s, r) = totals.GetValueOrDefault(pid);
            totals[pid] = (s + sent, r + received);
            pid = -1;
        }

        return totals;
    }

    private static long Counter(string line, string name)
    {
        var at = line.IndexOf(" " + name + ":", StringComparison.Ordinal);
        if (at < 0)
        {
            return 0; // ss leaves out counters that are zero
        }

        var start = at + name.Length + 2;
        var end = start;
        while (end < line.Length && char.IsAsciiDigit(line[end]))
        {
            end++;
        }

        return long.Parse(line.AsSpan(start, end - start), CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"pid=(\d+),")]
    private static partial Regex PidPattern();
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;

namespace LoadHarness.Client;

/// <summary>Starts <see cref="HoldCommand"/> child processes and collects what they report.</summary>
internal sealed class HoldWorkers : IAsyncDisposable
{
    private readonly List<Process> _processes = [];

    public int Opened { get; private set; }

    public int Failed { get; private set; }

    public Dictionary<int, int> Statuses { get; } = [];

    /// <summary>Gets the handshake answers by HTTP status (what <see cref="Wire"/> reports when none came), as JSON.</summary>
    public JsonObject StatusesJson() =>
        new(Statuses.OrderBy(p => p.Key).Select(p => KeyValuePair.Create(p.Key.ToString(CultureInfo.InvariantCulture), (JsonNode?)p.Value)));

    public double ReadyCpuSeconds { get; private set; }

    /// <summary>How long each successful connect took (upgrade, and for SignalR the handshake), over every worker.</summary>
    public LatencyHistogram ConnectTimes { get; } = new();

    public double ClosedCpuSeconds { get; private set; }

    /// <summary>
    /// Starts processes holding <paramref name="total"/> connections, at most <paramref name="perProcess"/> each, and
    /// waits until all report ready. <paramref name="baseUrl"/> may list several nodes, comma-separated (see
    /// <see cref="HoldCommand"/>); a worker gives up its connections by itself after <paramref name="lifetime"/>
    /// (default 15 minutes).
    /// </summary>
    public static async Task<HoldWorkers> StartAsync(string baseUrl, string mode, int total, int perProcess, string prefix, TimeSpan timeout, TimeSpan? lifetime = null)
    {
        var workers = new HoldWorkers();
        var processes = (total + perProcess - 1) / perProcess;
        for (var p = 0; p < processes; p++)
        {
            var count = (total / processes) + (p < total % processes ? 1 : 0);
            var info = InlineCompletions.KeepOut(new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false });
            foreach (var arg in new[] { typeof(HoldWorkers).Assembly.Location, "hold", "--url", baseUrl, "--mode", mode, "--count", count.ToString(CultureInfo.InvariantCulture), "--prefix", $"{prefix}{p}",
                "--lifetime-minutes", (lifetime ?? TimeSpan.FromMinutes(15)).TotalMinutes.ToString(CultureInfo.InvariantCulture) })
            {
                info.ArgumentList.Add(arg);
            }

            workers._processes.Add(Process.Start(info) ?? throw new InvalidOperationException("Could not start a hold worker."));
        }

        using var cts = new CancellationTokenSource(timeout);
        foreach (var process in workers._processes)
        {
            var line = await ReadUntilAsync(process, "ready ", cts.Token).ConfigureAwait(false);
            string? connect = null;
            var connectMax = 0.0;
            foreach (var part in line.Split(' ').Skip(1))
            {
                var (key, value) = (part[..part.IndexOf('=')], part[(part.IndexOf('=') + 1)..]);
                switch (key)
                {
                    case "opened":
                        workers.Opened += HoldCommand.ParseInt(value);
                        break;
                    case "failed":
                        workers.Failed += HoldCommand.ParseInt(value);
                        break;
                    case "statuses":
                        foreach (var pair in value.Split(',', StringSplitOptions.RemoveEmptyEntries))
                        {
                            var status = HoldCommand.ParseInt(pair.Split(':')[0]);
                            workers.Statuses[status] = workers.Statuses.GetValueOrDefault(status) + HoldCommand.ParseInt(pair.Split(':')[1]);
                        }

                        break;
                    case "cpu":
                        workers.ReadyCpuSeconds += double.Parse(value, CultureInfo.InvariantCulture);
                        break;
                    case "connect":
                        connect = value;
                        break;
                    case "connectmax":
                        connectMax = double.Parse(value, CultureInfo.InvariantCulture);
                        break;
                    default:
                        break;
                }
            }

            workers.ConnectTimes.AddCompact(connect ?? string.Empty, connectMax);
        }

        return workers;
    }

    /// <summary>Tells every worker to close its connections and waits for them to exit.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var process in _processes)
        {
            try
            {
                await process.StandardInput.WriteLineAsync("close").ConfigureAwait(false);
                await process.StandardInput.FlushAsync().ConfigureAwait(false);
            }
            catch (IOException)
            {
            }
        }

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        foreach (var process in _processes)
        {
            try
            {
                var line = await ReadUntilAsync(process, "closed ", cts.Token).ConfigureAwait(false);
                ClosedCpuSeconds += double.Parse(line.Split('=')[1], CultureInfo.InvariantCulture);
                await process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or InvalidOperationException)
            {
                process.Kill(entireProcessTree: true);
            }

            process.Dispose();
        }
    }

    private static async Task<string> ReadUntilAsync(Process process, string prefix, CancellationToken cancellationToken)
    {
        while (true)
        {
            var line = await process.StandardOutput.ReadLineAsync(cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"A hold worker exited before printing '{prefix.Trim()}'.");
            if (line.StartsWith(prefix, StringComparison.Ordinal))
            {
                return line;
            }
        }
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace LoadHarness.Client;

/// <summary>A LoadHarness.Server process started for one mode, its address, and its /bench endpoints.</summary>
internal sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;

    private ServerProcess(Process process, string baseUrl)
    {
        _process = process;
        BaseUrl = baseUrl;
        Http = new HttpClient { BaseAddress = new Uri(baseUrl), Timeout = TimeSpan.FromSeconds(120) };
    }

    public string BaseUrl { get; }

    public HttpClient Http { get; }

    public int Pid => _process.Id;

    /// <summary>Starts a server; <paramref name="extraArguments"/> are passed on (e.g. <c>--redis HOST:PORT</c> for a cluster node).</summary>
    public static async Task<ServerProcess> StartAsync(string serverDll, string mode, int cap, IReadOnlyList<string>? extraArguments = null)
    {
        // Under taskset -c SERVER_CPUS when the suite pins (taskset execs dotnet, so the process id is the server's).
        var info = Pinning.ServerStartInfo("dotnet");
        info.RedirectStandardOutput = true;
        info.RedirectStandardInput = true;
        info.UseShellExecute = false;

        // Steady state from the first seconds: the runtime counts calls for tier-up at once instead of after 100 ms without
        // new JIT work, which a server under load, still compiling rare paths, may not see for the whole run; measured
        // windows then ran partly unoptimized or instrumented code. The same for every server.
        info.Environment.TryAdd(SteadyStateJit.Variable, SteadyStateJit.Value);
        foreach (var arg in new[] { serverDll, mode, "--cap", cap.ToString(System.Globalization.CultureInfo.InvariantCulture) }.Concat(extraArguments ?? []))
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start the server.");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            var line = await process.StandardOutput.ReadLineAsync(cts.Token).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"The {mode} server exited before listening.");
            if (line.StartsWith("listening ", StringComparison.Ordinal))
            {
                // Keep draining stdout so the server never blocks on a full pipe.
                _ = process.StandardOutput.BaseStream.CopyToAsync(Stream.Null);
                return new ServerProcess(process, line.Split(' ')[1]);
            }
        }
    }

    public async Task<JsonObject> StatsAsync(bool gc)
    {
        var stats = await Http.GetFromJsonAsync<JsonObject>(gc ? "/bench/stats?gc=1" : "/bench/stats").ConfigureAwait(false);
        return stats ?? throw new InvalidOperationException("Empty stats.");
    }

    public async Task<int> ConnectionsAsync() => (int)(await StatsAsync(gc: false).ConfigureAwait(false))["connections"]!;

    /// <summary>Waits until the server counts <paramref name="expected"/> connections; returns the last count seen.</summary>
    public async Task<(bool Reached, int Count, TimeSpan Waited)> WaitForConnectionsAsync(int expected, TimeSpan timeout)
    {
        var started = Stopwatch.GetTimestamp();
        var count = -1;
        for (var attempt = 0; attempt < 100_000 && Stopwatch.GetElapsedTime(started) < timeout; attempt++)
        {
            count = await ConnectionsAsync().ConfigureAwait(false);
            if (count == expected)
            {
                return (true, count, Stopwatch.GetElapsedTime(started));
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20)).ConfigureAwait(false);
        }

        return (false, count, Stopwatch.GetElapsedTime(started));
    }

    public async Task<Dictionary<string, long>> ReleasesAsync() =>
        await Http.GetFromJsonAsync<Dictionary<string, long>>("/bench/releases").ConfigureAwait(false) ?? [];

    /// <summary>The user's connections on every node of the cluster, as this (pool) node reads them from Redis.</summary>
    public async Task<int> ClusterCountAsync(string user)
    {
        var answer = await Http.GetFromJsonAsync<JsonObject>($"/bench/cluster-count?user={Uri.EscapeDataString(user)}").ConfigureAwait(false);
        return (int)answer!["count"]!;
    }

    /// <summary>Ends the server at once with SIGKILL, as a crash would: no drain, no release, no goodbye to Redis.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_process.HasExited)
        {
            Http.Dispose();
            _process.Dispose();
            return;
        }

        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await Http.PostAsync("/bench/shutdown", null, cts.Token).ConfigureAwait(false);
            using var exit = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            await _process.WaitForExitAsync(exit.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
        }

        Http.Dispose();
        _process.Dispose();
    }
}

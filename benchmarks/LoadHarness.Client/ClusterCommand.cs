// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace LoadHarness.Client;

/// <summary>
/// Runs the cluster scenarios for each mode (SignalR with its Redis backplane, then WebSocketPool with
/// WebSocketPool.Redis), each on a fresh Redis and fresh nodes, and writes one raw JSON file per mode
/// (<c>cluster-MODE.json</c>). The order within a mode: idle connections at the small size, idle Redis load; more
/// idle connections up to the large size, idle Redis load; the receiving user; bus bytes per send; throughput (sends
/// awaited one by one, and started together), interleaved; paced latency; and for the pool, a node killed with SIGKILL.
/// </summary>
internal static class ClusterCommand
{
    public static readonly string[] Modes = ["signalr", "pool"];

    public static async Task<int> RunAsync(string serverDll, string redisServer, string outputDirectory, ClusterSettings settings, IReadOnlyList<string> modes)
    {
        Directory.CreateDirectory(outputDirectory);
        var failures = 0;
        foreach (var mode in modes)
        {
            var run = new JsonObject
            {
                ["mode"] = mode,
                ["quick"] = settings.Quick,
                ["nodes"] = settings.Nodes,
                ["settings"] = Describe(settings),
                ["loadAverage1mStart"] = LoadAverage(),
            };
            var results = new JsonObject();
            run["scenarios"] = results;
            var started = Stopwatch.GetTimestamp();
            Log($"{mode}: starting redis-server and {settings.Nodes} nodes");
            try
            {
                await using var cluster = await ClusterRun.StartAsync(serverDll, redisServer, outputDirectory, mode, settings);
                run["cluster"] = await cluster.DescribeAsync();
                results["holdSmall"] = await StepAsync("holdSmall", () => cluster.HoldAsync(settings.SmallPerNode, ClusterRun.SmallHoldPrefix));
                results["idleSmall"] = await StepAsync("idleSmall", () => cluster.IdleAsync(settings.SmallPerNode));
                results["holdLarge"] = await StepAsync("holdLarge", () => cluster.HoldAsync(settings.LargePerNode - settings.SmallPerNode, ClusterRun.LargeHoldPrefix));
                results["idleLarge"] = await StepAsync("idleLarge", () => cluster.IdleAsync(settings.LargePerNode));
                results["receivers"] = await StepAsync("receivers", cluster.OpenReceiversAsync);
                results["busBytes"] = await StepAsync("busBytes", cluster.BusBytesAsync);
                var throughput = new JsonArray();
                var concurrent = new JsonArray();
                results["throughput"] = throughput;
                results["throughputConcurrent"] = concurrent;
                for (var i = 1; i <= settings.ThroughputRepetitions; i++)
                {
                    throughput.Add(await StepAsync($"throughput {i}/{settings.ThroughputRepetitions}", () => cluster.ThroughputAsync(concurrent: false)));
                    concurrent.Add(await StepAsync($"throughputConcurrent {i}/{settings.ThroughputRepetitions}", () => cluster.ThroughputAsync(concurrent: true)));
                }

                results["paced"] = await StepAsync("paced", cluster.PacedAsync);
                if (mode == "pool")
                {
                    results["kill"] = await StepAsync("kill", cluster.KillNodeAsync);
                }

                Log($"{mode}: closing every connection and stopping the cluster");
            }
            catch (Exception ex)
            {
                failures++;
                run["error"] = ex.GetType().Name + ": " + ex.Message;
                Log($"{mode}: FAILED {ex.GetType().Name}: {ex.Message}");
            }

            run["loadAverage1mEnd"] = LoadAverage();
            run["finishedAt"] = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
            run["seconds"] = Math.Round(Stopwatch.GetElapsedTime(started).TotalSeconds, 1);
            var file = Path.Combine(outputDirectory, $"cluster-{mode}.json");
            await File.WriteAllTextAsync(file, run.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            Log($"{mode}: done in {run["seconds"]} s -> {file}");

            async Task<JsonObject> StepAsync(string name, Func<Task<JsonObject>> step)
            {
                var stepStarted = Stopwatch.GetTimestamp();
                try
                {
                    var result = await step();
                    Log($"  {name}: {result.ToJsonString()} ({Stopwatch.GetElapsedTime(stepStarted).TotalSeconds:F1} s)");
                    return result;
                }
                catch (Exception ex)
                {
                    failures++;
                    Log($"  {name}: FAILED {ex.GetType().Name}: {ex.Message}");
                    return new JsonObject { ["error"] = ex.GetType().Name + ": " + ex.Message };
                }
            }
        }

        return failures == 0 ? 0 : 1;
    }

    private static JsonObject Describe(ClusterSettings settings) => new()
    {
        ["smallPerNode"] = settings.SmallPerNode,
        ["largePerNode"] = settings.LargePerNode,
        ["connectionsPerClientProcess"] = settings.ConnectionsPerClientProcess,
        ["nodeCap"] = settings.NodeCap,
        ["idleWindowSeconds"] = settings.IdleWindow.TotalSeconds,
        ["receiversPerNode"] = settings.ReceiversPerNode,
        ["busBytesSends"] = settings.BusBytesSends,
        ["messagesPerTrigger"] = settings.MessagesPerTrigger,
        ["throughputSeconds"] = settings.ThroughputDuration.TotalSeconds,
        ["throughputRepetitions"] = settings.ThroughputRepetitions,
        ["pacedSeconds"] = settings.PacedDuration.TotalSeconds,
        ["leaseTtlSeconds"] = settings.LeaseTtl.TotalSeconds,
    };

    private static double LoadAverage() =>
        double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture);

    private static void Log(string message) => Console.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] {message}");
}

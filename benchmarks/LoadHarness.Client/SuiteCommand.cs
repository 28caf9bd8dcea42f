// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace LoadHarness.Client;

/// <summary>
/// Runs every scenario against each server mode, interleaved (bare, barequeued, signalr, pool; then again), one fresh server
/// process per mode and repetition, and writes one raw JSON file per run.
/// </summary>
internal static class SuiteCommand
{
    public static async Task<int> RunAsync(string serverDll, string outputDirectory, Settings settings, IReadOnlyList<string> modes, IReadOnlyList<string>? only = null)
    {
        Directory.CreateDirectory(outputDirectory);
        var failures = 0;
        var currentMode = string.Empty;
        for (var repetition = 1; repetition <= settings.Repetitions; repetition++)
        {
            foreach (var mode in modes)
            {
                currentMode = mode;
                var run = new JsonObject { ["mode"] = mode, ["repetition"] = repetition, ["quick"] = settings.Quick, ["loadAverage1mStart"] = LoadAverage() };
                var started = Stopwatch.GetTimestamp();
                Log($"run {repetition}/{settings.Repetitions} {mode}: starting server");
                await using (var server = await ServerProcess.StartAsync(serverDll, mode, settings.CapConnections))
                {
                    run["serverPid"] = server.Pid;
                    var scenarios = new Scenarios(server, mode, settings, repetition);
                    var results = new JsonObject();
                    run["scenarios"] = results;
                    await StepAsync("warm-up", async () => { await scenarios.WarmUpAsync(); return new JsonObject(); }, null);
                    await StepAsync("idle", scenarios.IdleMemoryAsync, results);
                    await StepAsync("echo", scenarios.EchoAsync, results);
                    await StepAsync("sendToUser", scenarios.SendToUserAsync, results);
                    await StepAsync("sendToUserAmongOthers", scenarios.SendToUserAmongOthersAsync, results);
                    await StepAsync("broadcast", scenarios.BroadcastAsync, results);
                    await StepAsync("churn", scenarios.ChurnAsync, results);
                    await StepAsync("cap", scenarios.CapAsync, results);
                }

                run["loadAverage1mEnd"] = LoadAverage();
                run["finishedAt"] = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
                run["seconds"] = Math.Round(Stopwatch.GetElapsedTime(started).TotalSeconds, 1);
                var file = Path.Combine(outputDirectory, $"run-{repetition}-{mode}.json");
                await File.WriteAllTextAsync(file, run.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
                Log($"run {repetition}/{settings.Repetitions} {mode}: done in {run["seconds"]} s -> {file}");
            }
        }

        return failures == 0 ? 0 : 1;

        async Task StepAsync(string name, Func<Task<JsonObject>> step, JsonObject? results)
        {
            if (results is not null && ((only is not null && !only.Contains(name)) || !ClientMode.Runs(currentMode, name)))
            {
                return;
            }

            var started = Stopwatch.GetTimestamp();
            try
            {
                var result = await step();
                if (results is not null)
                {
                    results[name] = result;
                }

                Log($"  {name}: {result.ToJsonString()} ({Stopwatch.GetElapsedTime(started).TotalSeconds:F1} s)");
            }
            catch (Exception ex)
            {
                failures++;
                if (results is not null)
                {
                    results[name] = new JsonObject { ["error"] = ex.GetType().Name + ": " + ex.Message };
                }

                Log($"  {name}: FAILED {ex.GetType().Name}: {ex.Message}");
            }
        }
    }

    /// <summary>The 1-minute load average: near 0 on a quiet machine; above the core count, other work shared the CPUs.</summary>
    private static double LoadAverage() =>
        double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);

    private static void Log(string message) => Console.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] {message}");
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace LoadHarness.Client;

/// <summary>
/// Runs every scenario against each server mode in rounds, one fresh server process per mode and round, and writes one
/// raw JSON file per run. The order rotates from round to round (round 1: bare, barequeued, signalr, pool; round 2
/// starts with barequeued; …), so no server always runs first or last. The growth curve runs in a server process of
/// its own per mode (its cap differs) in the first <see cref="Settings.GrowthRounds"/> rounds. Before each scenario
/// the suite waits (bounded) for a quiet machine and records the load average it saw.
/// </summary>
internal static class SuiteCommand
{
    public const string Growth = "growth";

    public static async Task<int> RunAsync(string serverDll, string outputDirectory, Settings settings, IReadOnlyList<string> modes, IReadOnlyList<string>? only = null)
    {
        Directory.CreateDirectory(outputDirectory);
        var failures = 0;
        var currentMode = string.Empty;
        var suiteStarted = Stopwatch.GetTimestamp();
        Log($"client: {settings.Client}{(InlineCompletions.Enabled ? ", socket completions inline" : string.Empty)}");
        Log($"pinning: {(Pinning.Enabled ? $"server on CPU {Pinning.ServerCpus}, client and its children on CPU {Pinning.ClientCpus}" : $"off ({Pinning.Unavailable})")}");
        for (var repetition = 1; repetition <= settings.Repetitions; repetition++)
        {
            var order = Rotate(modes, repetition - 1);
            Log($"round {repetition}/{settings.Repetitions}: {string.Join(", ", order)}");
            foreach (var mode in order)
            {
                currentMode = mode;
                if (only is null || only.Any(o => o != Growth))
                {
                    await RunOneAsync(mode, repetition, growth: false);
                }

                if (repetition <= settings.GrowthRounds && settings.GrowthModes.Contains(mode) && (only is null || only.Contains(Growth)))
                {
                    await RunOneAsync(mode, repetition, growth: true);
                }
            }
        }

        Log($"suite done in {Stopwatch.GetElapsedTime(suiteStarted).TotalMinutes:F1} min");
        return failures == 0 ? 0 : 1;

        async Task RunOneAsync(string mode, int repetition, bool growth)
        {
            var run = new JsonObject
            {
                ["mode"] = mode,
                ["repetition"] = repetition,
                ["quick"] = settings.Quick,
                ["client"] = settings.Client,
                ["inlineSocketCompletions"] = InlineCompletions.Enabled,
                ["loadAverage1mStart"] = QuietMachine.LoadAverage(),
                ["quietThreshold"] = settings.QuietThreshold,
                ["quietWaitMaxSeconds"] = settings.QuietWait.TotalSeconds,
                ["pinning"] = Pinning.ToJson(),
            };
            var started = Stopwatch.GetTimestamp();
            var name = growth ? $"{mode} growth" : mode;
            Log($"run {repetition}/{settings.Repetitions} {name}: starting server");
            await using (var server = await ServerProcess.StartAsync(serverDll, mode, growth ? settings.GrowthCap : settings.CapConnections))
            {
                run["serverPid"] = server.Pid;
                var scenarios = new Scenarios(server, mode, settings, repetition);
                var results = new JsonObject();
                run["scenarios"] = results;
                await StepAsync("warm-up", async () => { await scenarios.WarmUpAsync(); return new JsonObject(); }, null);
                if (growth)
                {
                    await StepAsync(Growth, scenarios.GrowthAsync, results, quietFirst: false);
                }
                else
                {
                    await StepAsync("idle", scenarios.IdleMemoryAsync, results);
                    await StepAsync("echo", scenarios.EchoAsync, results);
                    await StepAsync("sendToUser", scenarios.SendToUserAsync, results);
                    await StepAsync("sendToUserAmongOthers", scenarios.SendToUserAmongOthersAsync, results);
                    await StepAsync("broadcast", scenarios.BroadcastAsync, results);
                    await StepAsync("churn", scenarios.ChurnAsync, results);
                    await StepAsync("broadcastChurn", scenarios.BroadcastDuringChurnAsync, results);
                    await StepAsync("cap", scenarios.CapAsync, results);
                }
            }

            run["loadAverage1mEnd"] = QuietMachine.LoadAverage();
            run["finishedAt"] = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
            run["seconds"] = Math.Round(Stopwatch.GetElapsedTime(started).TotalSeconds, 1);
            var file = Path.Combine(outputDirectory, growth ? $"growth-{repetition}-{mode}.json" : $"run-{repetition}-{mode}.json");
            await File.WriteAllTextAsync(file, run.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            Log($"run {repetition}/{settings.Repetitions} {name}: done in {run["seconds"]} s -> {file}");
        }

        // quietFirst: wait for a quiet machine before the step and record the load average seen in its result (the
        // growth curve waits before each of its steps instead).
        async Task StepAsync(string name, Func<Task<JsonObject>> step, JsonObject? results, bool quietFirst = true)
        {
            if (results is not null && name != Growth
                && ((only is not null && !only.Contains(name)) || !ClientMode.Runs(currentMode, name) || (name == "cap" && !settings.CapModes.Contains(currentMode))))
            {
                return;
            }

            JsonObject? quiet = null;
            if (results is not null && quietFirst)
            {
                quiet = await QuietMachine.WaitAndRecordAsync(settings);
                Log($"  {name}: load average {quiet["loadAverage1m"]} after waiting {quiet["quietWaitSeconds"]} s{((bool)quiet["noisy"]! ? " (noisy)" : string.Empty)}");
            }

            var started = Stopwatch.GetTimestamp();
            try
            {
                var result = await step();
                if (results is not null)
                {
                    if (quiet is not null)
                    {
                        QuietMachine.CopyInto(quiet, result);
                    }

                    result["seconds"] = Math.Round(Stopwatch.GetElapsedTime(started).TotalSeconds, 1);
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

    /// <summary>The modes starting at index <paramref name="shift"/> (mod their count), wrapping round.</summary>
    public static List<string> Rotate(IReadOnlyList<string> modes, int shift) =>
        modes.Count == 0 ? [] : Enumerable.Range(0, modes.Count).Select(i => modes[(i + shift) % modes.Count]).ToList();

    public static void Log(string message) => Console.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] {message}");
}

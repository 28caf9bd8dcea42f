// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace LoadHarness.Client;

/// <summary>
/// Turns the raw run files (and the micro-benchmark summary) into benchmarks/results/latest.json, latest.md and
/// latest.svg, and copies the table into the README between its result markers.
/// </summary>
internal static class ReportCommand
{
    private const string ReadmeStart = "<!-- latest-results:start -->";
    private const string ReadmeEnd = "<!-- latest-results:end -->";
    private static readonly string[] s_modes = ["bare", "barequeued", "signalr", "pool"];

    public static int Run(string rawDirectory, string outputDirectory, ReportInputs inputs)
    {
        var (microFile, footprintFile, readme, commit, note) = (inputs.MicroFile, inputs.FootprintFile, inputs.Readme, inputs.Commit, inputs.Note);
        var files = Directory.GetFiles(rawDirectory, "run-*.json").Order(StringComparer.Ordinal).ToList();
        var runs = files.Select(f => JsonNode.Parse(File.ReadAllText(f))!.AsObject()).ToList();

        // The date of the results is when the last run finished (older raw files carry only their file time).
        var finished = files.Count == 0 ? DateTimeOffset.UtcNow : files.Zip(runs).Max(p =>
            p.Second["finishedAt"] is JsonValue v && DateTimeOffset.TryParse((string?)v, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at)
                ? at
                : new DateTimeOffset(File.GetLastWriteTimeUtc(p.First), TimeSpan.Zero));
        if (runs.Count == 0)
        {
            Console.Error.WriteLine($"No run files in {rawDirectory}.");
            return 1;
        }

        var micro = microFile is not null && File.Exists(microFile) ? JsonNode.Parse(File.ReadAllText(microFile))!.AsObject() : null;
        var quick = runs.All(r => (bool?)r["quick"] == true);
        var repetitions = runs.Max(r => (int)r["repetition"]!);
        var document = new JsonObject
        {
            ["machine"] = Machine(),
            ["date"] = finished.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
            ["commit"] = commit ?? "unknown",
            ["mode"] = quick ? "quick" : "full",
            ["repetitions"] = repetitions,
            ["clientBoundThresholdCores"] = Scenarios.ClientBoundCores,
            ["note"] = note,
            ["loadAverage1m"] = new JsonObject
            {
                ["min"] = runs.SelectMany(r => new[] { (double?)r["loadAverage1mStart"], (double?)r["loadAverage1mEnd"] }).Where(v => v is not null).DefaultIfEmpty(0).Min(),
                ["max"] = runs.SelectMany(r => new[] { (double?)r["loadAverage1mStart"], (double?)r["loadAverage1mEnd"] }).Where(v => v is not null).DefaultIfEmpty(0).Max(),
            },
        };
        if (footprintFile is not null && File.Exists(footprintFile))
        {
            document["footprint"] = JsonNode.Parse(File.ReadAllText(footprintFile));
        }

        var medians = new JsonObject();
        var figures = 0;
        var noisyFigures = 0;
        foreach (var metric in MetricDefinition.All)
        {
            var row = new JsonObject { ["label"] = metric.Label, ["unit"] = metric.Unit };
            var spread = new JsonObject();
            var noisy = new JsonArray();
            foreach (var mode in s_modes)
            {
                var values = Values(runs, mode, metric.Scenario, metric.Field);
                row[mode] = values.Count == 0 ? null : Median(values) * metric.Scale;
                if (values.Count > 0)
                {
                    spread[mode] = new JsonObject { ["min"] = values.Min() * metric.Scale, ["max"] = values.Max() * metric.Scale, ["n"] = values.Count };
                    figures++;
                    if (Noisy(runs, mode, metric.Scenario))
                    {
                        noisy.Add(mode);
                        noisyFigures++;
                    }
                }
            }

            row["spread"] = spread;
            row["noisy"] = noisy;

            if (row["bare"] is not null && row["pool"] is not null && (double)row["bare"]! != 0)
            {
                row["poolToBare"] = Math.Round((double)row["pool"]! / (double)row["bare"]!, 3);
            }

            if (row["barequeued"] is not null && row["pool"] is not null && (double)row["barequeued"]! != 0)
            {
                row["poolToBareQueued"] = Math.Round((double)row["pool"]! / (double)row["barequeued"]!, 3);
            }

            if (row["signalr"] is not null && row["pool"] is not null && (double)row["signalr"]! != 0)
            {
                row["poolToSignalR"] = Math.Round((double)row["pool"]! / (double)row["signalr"]!, 3);
            }

            row["clientBound"] = new JsonArray(s_modes.Where(m => ClientBound(runs, m, metric.Scenario)).Select(m => (JsonNode)m).ToArray());
            medians[metric.Id] = row;
        }

        document["metrics"] = medians;
        document["figures"] = figures;
        document["noisyFigures"] = noisyFigures;
        var scenarioLoads = runs.SelectMany(r => r["scenarios"]?.AsObject().Select(p => (double?)p.Value?["loadAverage1m"]) ?? []).Where(v => v is not null).Select(v => v!.Value).ToList();
        document["quietThreshold"] = runs.Select(r => (double?)r["quietThreshold"]).FirstOrDefault(v => v is not null);
        document["quietWaitMaxSeconds"] = runs.Select(r => (double?)r["quietWaitMaxSeconds"]).FirstOrDefault(v => v is not null);
        document["loadAverage1mBeforeScenarios"] = scenarioLoads.Count == 0 ? null : new JsonObject { ["min"] = scenarioLoads.Min(), ["max"] = scenarioLoads.Max(), ["n"] = scenarioLoads.Count };
        document["pinning"] = runs.Select(r => r["pinning"]).FirstOrDefault(p => p is not null)?.DeepClone();
        var seconds = Directory.GetFiles(rawDirectory, "*.json").Where(f => Path.GetFileName(f).StartsWith("run-", StringComparison.Ordinal) || Path.GetFileName(f).StartsWith("growth-", StringComparison.Ordinal))
            .Sum(f => (double?)JsonNode.Parse(File.ReadAllText(f))?["seconds"] ?? 0);
        document["suiteMinutes"] = Math.Round(seconds / 60, 1);
        var waited = runs.SelectMany(r => r["scenarios"]?.AsObject().Select(p => (double?)p.Value?["quietWaitSeconds"]) ?? []).Where(v => v is not null).Sum(v => v!.Value);
        document["quietWaitMinutes"] = Math.Round(waited / 60, 1);
        document["order"] = new JsonArray(runs.GroupBy(r => (int)r["repetition"]!).OrderBy(g => g.Key)
            .Select(g => (JsonNode)string.Join(", ", g.OrderBy(r => (string?)r["finishedAt"], StringComparer.Ordinal).Select(r => (string?)r["mode"]))).ToArray());
        var growth = GrowthReport.Build(rawDirectory);
        if (growth is not null)
        {
            document["growth"] = growth;
            figures += (int)growth["figures"]!;
            noisyFigures += (int)growth["noisyFigures"]!;
            document["figures"] = figures;
            document["noisyFigures"] = noisyFigures;
        }

        document["cpu"] = CpuTable(runs);
        document["targets"] = Targets(medians, runs, micro);
        if (micro is not null)
        {
            document["micro"] = micro.DeepClone();
        }

        document["runs"] = new JsonArray(runs.Select(r => (JsonNode)r.DeepClone()).ToArray());
        Directory.CreateDirectory(outputDirectory);
        File.WriteAllText(Path.Combine(outputDirectory, "latest.json"), document.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        var markdown = Markdown(document, micro);
        File.WriteAllText(Path.Combine(outputDirectory, "latest.md"), markdown);
        File.WriteAllText(Path.Combine(outputDirectory, "latest.svg"), SvgChart.Render(medians, document));
        if (document["growth"] is JsonObject growthDocument)
        {
            File.WriteAllText(Path.Combine(outputDirectory, "growth-latest.svg"), GrowthChart.Render(growthDocument, document));
        }
        if (readme is not null && File.Exists(readme))
        {
            UpdateReadme(readme, markdown);
        }

        Console.WriteLine(markdown);
        return 0;
    }

    private static List<double> Values(List<JsonObject> runs, string mode, string scenario, string field) =>
        runs.Where(r => (string?)r["mode"] == mode)
            .Select(r => r["scenarios"]?[scenario]?[field])
            .Where(v => v is JsonValue value && value.TryGetValue<double>(out var d) && !double.IsNaN(d))
            .Select(v => v!.GetValue<double>())
            .ToList();

    /// <summary>A figure is noisy when any run of it was taken with the 1-minute load average at or above the threshold (or with no record of it).</summary>
    private static bool Noisy(List<JsonObject> runs, string mode, string scenario) =>
        runs.Any(r => (string?)r["mode"] == mode && r["scenarios"]?[scenario] is JsonObject result && result["error"] is null && (bool?)result["noisy"] != false);

    private static bool ClientBound(List<JsonObject> runs, string mode, string scenario) =>
        runs.Any(r => (string?)r["mode"] == mode && (bool?)r["scenarios"]?[scenario]?["clientBound"] == true);

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }

    private static JsonObject CpuTable(List<JsonObject> runs)
    {
        var cpu = new JsonObject();
        foreach (var scenario in new[] { "echo", "sendToUser", "sendToUserAmongOthers", "broadcast", "churn", "broadcastChurn" })
        {
            var row = new JsonObject();
            foreach (var mode in s_modes)
            {
                var client = Values(runs, mode, scenario, "clientCores");
                var server = Values(runs, mode, scenario, "serverCores");
                var clientCore = Values(runs, mode, scenario, "clientCoreBusy");
                row[mode] = new JsonObject
                {
                    ["clientCores"] = client.Count == 0 ? null : Median(client),
                    ["serverCores"] = server.Count == 0 ? null : Median(server),
                    ["clientCoreBusy"] = clientCore.Count == 0 ? null : Median(clientCore),
                    ["clientBound"] = ClientBound(runs, mode, scenario),
                };
            }

            cpu[scenario] = row;
        }

        return cpu;
    }

    private static JsonArray Targets(JsonObject medians, List<JsonObject> runs, JsonObject? micro)
    {
        var targets = new JsonArray();

        // limit null: no target, the ratio is only reported.
        void Ratio(string name, string metric, string against, double? limit, bool atLeast)
        {
            var row = medians[metric]!;
            var ratio = (double?)row[against switch { "bare" => "poolToBare", "barequeued" => "poolToBareQueued", _ => "poolToSignalR" }];
            var bound = row["clientBound"]!.AsArray().Count > 0;
            targets.Add(new JsonObject
            {
                ["target"] = name,
                ["metric"] = metric,
                ["measured"] = ratio is null ? "n/a" : ratio.Value.ToString("0.00", CultureInfo.InvariantCulture) + "×",
                ["ratio"] = ratio,
                ["limit"] = limit,
                ["met"] = ratio is null || limit is null ? null : atLeast ? ratio >= limit : ratio <= limit,
                ["clientBound"] = bound,
                ["noisy"] = row["noisy"]!.AsArray().Any(m => (string?)m == "pool" || (string?)m == against),
            });
        }

        Ratio("Memory per idle connection (managed heap) ≤ 1.05 × bare Kestrel", "idle.heapPerConnectionBytes", "bare", 1.05, atLeast: false);
        Ratio("Memory per idle connection (RSS) ≤ 1.05 × bare Kestrel", "idle.rssPerConnectionBytes", "bare", 1.05, atLeast: false);
        Ratio("Echo round trips/s ≥ 0.97 × bare Kestrel", "echo.roundTripsPerSecond", "bare", 0.97, atLeast: true);
        Ratio("Echo round trips/s ≥ 2 × SignalR", "echo.roundTripsPerSecond", "signalr", 2.0, atLeast: true);
        Ratio("Echo p99 ≤ 1.2 × bare Kestrel", "echo.p99Ms", "bare", 1.2, atLeast: false);
        Ratio("Connect + close churn ≥ 0.95 × bare Kestrel", "churn.cyclesPerSecond", "bare", 0.95, atLeast: true);

        var releaseRow = medians["churn.releaseP99Ms"]!;
        var releaseP99 = (double?)releaseRow["pool"];
        targets.Add(new JsonObject
        {
            ["target"] = "Close → release p99 ≤ 2 ms",
            ["metric"] = "churn.releaseP99Ms",
            ["measured"] = releaseP99 is null ? "n/a" : releaseP99.Value.ToString("0.###", CultureInfo.InvariantCulture) + " ms",
            ["met"] = releaseP99 is null ? null : releaseP99 <= 2,
            ["clientBound"] = releaseRow["clientBound"]!.AsArray().Any(m => (string?)m == "pool"),
            ["noisy"] = releaseRow["noisy"]!.AsArray().Any(m => (string?)m == "pool"),
        });

        Ratio("Send to user ≥ 3 × SignalR Clients.User (the user's 10 connections alone)", "sendToUser.deliveredPerSecond", "signalr", 3.0, atLeast: true);
        Ratio("Send to user ≥ 3 × SignalR Clients.User (other users' idle connections open)", "sendToUserAmongOthers.deliveredPerSecond", "signalr", 3.0, atLeast: true);
        Ratio("Fan-out, send to user ≥ 0.9 × bare + writer queue (the fair baseline)", "sendToUser.deliveredPerSecond", "barequeued", 0.9, atLeast: true);
        Ratio("Fan-out, send to user among others ≥ 0.9 × bare + writer queue", "sendToUserAmongOthers.deliveredPerSecond", "barequeued", 0.9, atLeast: true);
        Ratio("Fan-out, broadcast ≥ 0.9 × bare + writer queue", "broadcast.deliveredPerSecond", "barequeued", 0.9, atLeast: true);
        Ratio("Fan-out, send to user ÷ bare Kestrel awaiting each send (reported, no target)", "sendToUser.deliveredPerSecond", "bare", null, atLeast: true);
        Ratio("Fan-out, send to user among others ÷ bare Kestrel awaiting each send (reported, no target)", "sendToUserAmongOthers.deliveredPerSecond", "bare", null, atLeast: true);
        Ratio("Fan-out, broadcast ÷ bare Kestrel awaiting each send (reported, no target)", "broadcast.deliveredPerSecond", "bare", null, atLeast: true);

        var within = Values(runs, "pool", "churn", "releasedWithin100MsPct");
        targets.Add(new JsonObject
        {
            ["target"] = "100 % of leases released within 100 ms of the close",
            ["measured"] = within.Count == 0 ? "n/a" : within.Min().ToString("0.###", CultureInfo.InvariantCulture) + " % (worst run)",
            ["met"] = within.Count == 0 ? null : within.Min() >= 100,
            ["clientBound"] = false,
            ["noisy"] = Noisy(runs, "pool", "churn"),
        });

        var poolCaps = runs.Where(r => (string?)r["mode"] == "pool").Select(r => r["scenarios"]?["cap"]).Where(c => c?["target"] is not null).ToList();
        var capMet = poolCaps.Count > 0 && poolCaps.All(c => (bool?)c!["zeroFailures"] == true && (int?)c["overflow503"] == (int?)c["overflowAttempts"]);
        targets.Add(new JsonObject
        {
            ["target"] = "Holds MaxConnections with zero failures, 503 beyond it",
            ["measured"] = poolCaps.Count == 0 ? "n/a" : string.Join("; ", poolCaps.Select(c => $"held {c!["held"]}/{c["target"]}, failed {c["failed"]}, 503 {c["overflow503"]}/{c["overflowAttempts"]}")),
            ["met"] = poolCaps.Count == 0 ? null : capMet,
            ["clientBound"] = false,
            ["noisy"] = Noisy(runs, "pool", "cap"),
        });

        if (micro?["benchmarks"] is JsonArray benchmarks)
        {
            var pool = benchmarks.Where(b => ((string?)b!["method"])?.StartsWith("Pooled", StringComparison.Ordinal) == true).ToList();
            var zero = pool.Count > 0 && pool.All(b => (long?)b!["allocatedBytesPerOp"] == 0);
            targets.Add(new JsonObject
            {
                ["target"] = "Lease + release allocates 0 B per operation",
                ["measured"] = string.Join(", ", pool.Select(b => $"{b!["allocatedBytesPerOp"]} B")),
                ["met"] = pool.Count == 0 ? null : zero,
                ["clientBound"] = false,
            });
            foreach (var b in pool)
            {
                var counter = benchmarks.FirstOrDefault(c => (string?)c!["class"] == (string?)b!["class"]
                    && (string?)c!["parameters"] == (string?)b["parameters"] && (string?)c["method"] == "CounterReserveRelease");
                var ratio = counter is null ? (double?)null : (double)b!["meanNs"]! / (double)counter["meanNs"]!;
                var where = (string?)b!["class"] == "LeaseBenchmarks" ? "1 thread" : "2 threads" + ((string?)b["parameters"] is { Length: > 0 } p ? $", {p}" : string.Empty);
                targets.Add(new JsonObject
                {
                    ["target"] = $"Lease + release ≤ 1.5 × ConcurrentDictionary counter ({where})",
                    ["measured"] = ratio is null ? "n/a" : ratio.Value.ToString("0.00", CultureInfo.InvariantCulture) + "×",
                    ["met"] = ratio is null ? null : ratio <= 1.5,
                    ["clientBound"] = false,
                });
            }
        }

        return targets;
    }

    private static string Markdown(JsonObject document, JsonObject? micro)
    {
        var machine = document["machine"]!;
        var text = new StringBuilder();
        text.AppendLine("# WebSocketPool side-by-side benchmark");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"Machine: {machine["cpuModel"]}, {machine["nproc"]} cores, {machine["memoryGiB"]} GiB; {machine["os"]}; .NET {machine["dotnet"]}.  ");
        text.AppendLine(CultureInfo.InvariantCulture, $"Date: {document["date"]}; commit `{document["commit"]}`; {document["mode"]} mode, median of {document["repetitions"]} round(s) per server, the servers' order rotating from round to round ({string.Join("; ", document["order"]!.AsArray().Select(o => (string?)o))}).  ");
        text.AppendLine(CultureInfo.InvariantCulture, $"1-minute load average during the runs: {document["loadAverage1m"]?["min"]}–{document["loadAverage1m"]?["max"]}; before each scenario the suite waited up to {document["quietWaitMaxSeconds"]} s for it to fall below {document["quietThreshold"]}, and saw {document["loadAverage1mBeforeScenarios"]?["min"]}–{document["loadAverage1mBeforeScenarios"]?["max"]}.  ");
        text.AppendLine(CultureInfo.InvariantCulture, $"The suite took {document["suiteMinutes"]} min (the servers' runs and the growth curve, server starts and waits for a quiet machine included; of it, at least {document["quietWaitMinutes"]} min waiting before the scenarios).  ");
        var noisyCount = (int?)document["noisyFigures"] ?? 0;
        text.AppendLine(CultureInfo.InvariantCulture, $"**Noisy figures: {noisyCount} of {document["figures"]}** (taken with the 1-minute load average at or above {document["quietThreshold"]}; marked *noisy* below{(noisyCount == 0 ? string.Empty : ", and none of them may be called quiet")}).  ");
        var pinning = document["pinning"];
        text.AppendLine((bool?)pinning?["enabled"] == true
            ? $"Pinning (`taskset`): the server on CPU {pinning!["serverCpus"]}, the load client and its child processes on CPU {pinning["clientCpus"]}."
            : $"Pinning: none ({pinning?["unavailable"] ?? "not recorded"}); the client and the server shared every core.");
        text.AppendLine();
        if ((string?)document["note"] is { Length: > 0 } note)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"> Note: {note}");
            text.AppendLine();
        }

        if ((string?)document["mode"] == "quick")
        {
            text.AppendLine("> Quick mode: smaller N (see benchmarks/README.md), one run each, short durations and a short wait for a quiet machine. Treat these figures as a smoke run, not as publishable numbers.");
            text.AppendLine();
        }

        text.AppendLine(CultureInfo.InvariantCulture, $"Each figure is the median of the rounds, with the spread (min–max) in brackets when there was more than one. A mode is listed under *client-bound* when the load client's core was at least {document["clientBoundThresholdCores"]} busy during that scenario (the client process's own CPU when not pinned): those figures measure the client as much as the server. A mode is listed under *noisy* when a run of that figure was taken on a busy machine.");
        text.AppendLine();
        text.AppendLine("| Metric | Unit | bare Kestrel | bare + writer queue | SignalR | WebSocketPool | pool ÷ bare | pool ÷ bare + queue | pool ÷ SignalR | client-bound | noisy |");
        text.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|");
        foreach (var (_, node) in document["metrics"]!.AsObject())
        {
            var row = node!;
            var bound = row["clientBound"]!.AsArray().Select(n => (string?)n).ToList();
            var noisy = row["noisy"]!.AsArray().Select(n => (string?)n).ToList();
            string Cell(string mode) => Format(row[mode]) + (row["spread"]?[mode] is { } sp && (int)sp["n"]! > 1 ? $" ({Format(sp["min"])}–{Format(sp["max"])})" : string.Empty);
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {row["label"]} | {row["unit"]} | {Cell("bare")} | {Cell("barequeued")} | {Cell("signalr")} | {Cell("pool")} | {Ratio(row["poolToBare"])} | {Ratio(row["poolToBareQueued"])} | {Ratio(row["poolToSignalR"])} | {(bound.Count == 0 ? "–" : string.Join(", ", bound))} | {(noisy.Count == 0 ? "–" : string.Join(", ", noisy))} |");
        }

        text.AppendLine();
        text.AppendLine("Close → release: for WebSocketPool, until the lease was released; for bare Kestrel and SignalR, which hold no lease, until their per-connection cleanup ran.");
        text.AppendLine();
        text.AppendLine("Two bare baselines: *bare Kestrel* awaits each socket's send in turn (what a hand-written loop does); *bare + writer queue* gives each connection a bounded queue and one writer, as the pool has, so a send to a user or to everyone queues and moves on. The second is the fair baseline for fan-out; it runs only the echo, send and broadcast-during-churn scenarios.");
        text.AppendLine();
        text.AppendLine("Broadcast during churn: client loops connect and close (the same user reconnecting) among the scenario's idle connections, first with nothing else going on, then while the client asks the server for a broadcast to every connection at a fixed pace (the next one waits for the previous one); the connect (handshake) times of the two phases are compared.");
        text.AppendLine();
        text.AppendLine("CPU used during each scenario, in cores (client process / server process), and the client's core busy share when pinned:");
        text.AppendLine();
        text.AppendLine("| Scenario | bare Kestrel | bare + writer queue | SignalR | WebSocketPool |");
        text.AppendLine("|---|---|---|---|---|");
        foreach (var (scenario, node) in document["cpu"]!.AsObject())
        {
            string Cell(string mode) => node![mode] is { } c && c["clientCores"] is not null
                ? $"{Format(c["clientCores"])} / {Format(c["serverCores"])}{(c["clientCoreBusy"] is { } busy ? $", client core {Format(busy)}" : string.Empty)}{((bool?)c["clientBound"] == true ? " (client-bound)" : string.Empty)}"
                : "–";
            text.AppendLine(CultureInfo.InvariantCulture, $"| {scenario} | {Cell("bare")} | {Cell("barequeued")} | {Cell("signalr")} | {Cell("pool")} |");
        }

        if (document["growth"] is JsonObject growth)
        {
            text.AppendLine();
            GrowthReport.AppendMarkdown(text, growth);
        }

        text.AppendLine();
        text.AppendLine("## Targets (docs: DESIGN.md, \"Performance targets\")");
        text.AppendLine();
        text.AppendLine("| Target | Measured | Status |");
        text.AppendLine("|---|---|---|");
        foreach (var node in document["targets"]!.AsArray())
        {
            var met = (bool?)node!["met"];
            var status = met is null ? (node["limit"] is null && node["ratio"] is not null ? "reported" : "not measured") : met.Value ? "met" : "missed";
            if ((bool?)node["clientBound"] == true)
            {
                status += " (client-bound)";
            }

            if ((bool?)node["noisy"] == true)
            {
                status += " (noisy)";
            }

            text.AppendLine(CultureInfo.InvariantCulture, $"| {node["target"]} | {node["measured"]} | {status} |");
        }

        if (micro?["benchmarks"] is JsonArray benchmarks)
        {
            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture, $"## Micro-benchmarks (BenchmarkDotNet, {micro["job"]})");
            text.AppendLine();
            text.AppendLine("| Benchmark | Case | Mean | Allocated per op |");
            text.AppendLine("|---|---|---:|---:|");
            foreach (var b in benchmarks)
            {
                var parameters = (string?)b!["parameters"] is { Length: > 0 } p ? $" ({p})" : string.Empty;
                var mean = (double?)b["meanNs"];
                text.AppendLine(CultureInfo.InvariantCulture,
                    $"| {b["class"]}{parameters} | {((string?)b["description"])?.Trim('\'')} | {(mean is null ? "failed" : mean.Value.ToString("N1", CultureInfo.InvariantCulture) + " ns")} | {b["allocatedBytesPerOp"]} B |");
            }
        }

        if (document["footprint"] is JsonObject footprint)
        {
            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture, $"## Idle footprint without Kestrel ({footprint["connections"]} in-memory WebSockets, live bytes per connection after a full GC)");
            text.AppendLine();
            text.AppendLine("| WebSocket waiting in a bare zero-byte read | Pooled connection | Pool overhead | of which: a bounded channel like the send queue |");
            text.AppendLine("|---:|---:|---:|---:|");
            text.AppendLine(CultureInfo.InvariantCulture, $"| {footprint["bareZeroByteReadBytes"]} B | {footprint["poolConnectionBytes"]} B | {footprint["poolOverheadBytes"]} B | {footprint["boundedChannelBytes"]} B |");
        }

        text.AppendLine();
        text.AppendLine("![Ratios to bare Kestrel](latest.svg)");
        return text.ToString();
    }

    internal static string Format(JsonNode? value)
    {
        if (value is null)
        {
            return "–";
        }

        var d = value.GetValue<double>();
        return Math.Abs(d) >= 100 ? d.ToString("N0", CultureInfo.InvariantCulture) : d.ToString("0.###", CultureInfo.InvariantCulture);
    }

    internal static string Ratio(JsonNode? value) => value is null ? "–" : value.GetValue<double>().ToString("0.00", CultureInfo.InvariantCulture) + "×";

    internal static JsonObject Machine()
    {
        var model = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown";
        var memKb = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal))?.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
        var memGiB = memKb is null ? 0 : Math.Round(long.Parse(memKb, CultureInfo.InvariantCulture) / 1024.0 / 1024.0, 1);
        return new JsonObject
        {
            ["nproc"] = Environment.ProcessorCount,
            ["memoryGiB"] = memGiB,
            ["cpuModel"] = model,
            ["os"] = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
            ["dotnet"] = Environment.Version.ToString(),
        };
    }

    private static void UpdateReadme(string readme, string markdown) =>
        ReadmeSection.Replace(readme, ReadmeStart, ReadmeEnd, markdown, "latest.svg", "# WebSocketPool side-by-side benchmark", "### Latest results");
}

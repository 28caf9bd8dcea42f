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
        foreach (var metric in MetricDefinition.All)
        {
            var row = new JsonObject { ["label"] = metric.Label, ["unit"] = metric.Unit };
            foreach (var mode in s_modes)
            {
                var values = Values(runs, mode, metric.Scenario, metric.Field);
                row[mode] = values.Count == 0 ? null : Median(values) * metric.Scale;
            }

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
        foreach (var scenario in new[] { "echo", "sendToUser", "sendToUserAmongOthers", "broadcast", "churn" })
        {
            var row = new JsonObject();
            foreach (var mode in s_modes)
            {
                var client = Values(runs, mode, scenario, "clientCores");
                var server = Values(runs, mode, scenario, "serverCores");
                row[mode] = new JsonObject
                {
                    ["clientCores"] = client.Count == 0 ? null : Median(client),
                    ["serverCores"] = server.Count == 0 ? null : Median(server),
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
        void Ratio(string name, string metric, string against, double limit, bool atLeast)
        {
            var row = medians[metric]!;
            var ratio = (double?)row[against == "bare" ? "poolToBare" : "poolToSignalR"];
            var bound = row["clientBound"]!.AsArray().Count > 0;
            targets.Add(new JsonObject
            {
                ["target"] = name,
                ["measured"] = ratio is null ? "n/a" : ratio.Value.ToString("0.00", CultureInfo.InvariantCulture) + "×",
                ["met"] = ratio is null ? null : atLeast ? ratio >= limit : ratio <= limit,
                ["clientBound"] = bound,
            });
        }

        Ratio("Memory per idle connection ≤ 1.1 × bare Kestrel", "idle.rssPerConnectionBytes", "bare", 1.1, atLeast: false);
        Ratio("Echo round trips/s ≥ 0.95 × bare Kestrel", "echo.roundTripsPerSecond", "bare", 0.95, atLeast: true);
        Ratio("Echo round trips/s ≥ 1.4 × SignalR", "echo.roundTripsPerSecond", "signalr", 1.4, atLeast: true);
        Ratio("Echo p99 ≤ 1.2 × bare Kestrel", "echo.p99Ms", "bare", 1.2, atLeast: false);
        Ratio("Connect + close churn ≥ 0.9 × bare Kestrel", "churn.cyclesPerSecond", "bare", 0.9, atLeast: true);
        Ratio("Send to user ≥ 2 × SignalR Clients.User (the user's 10 connections alone)", "sendToUser.deliveredPerSecond", "signalr", 2.0, atLeast: true);
        Ratio("Send to user ≥ 2 × SignalR Clients.User (other users' idle connections open)", "sendToUserAmongOthers.deliveredPerSecond", "signalr", 2.0, atLeast: true);

        var within = Values(runs, "pool", "churn", "releasedWithin100MsPct");
        targets.Add(new JsonObject
        {
            ["target"] = "100 % of leases released within 100 ms of the close",
            ["measured"] = within.Count == 0 ? "n/a" : within.Min().ToString("0.###", CultureInfo.InvariantCulture) + " % (worst run)",
            ["met"] = within.Count == 0 ? null : within.Min() >= 100,
            ["clientBound"] = false,
        });

        var poolCaps = runs.Where(r => (string?)r["mode"] == "pool").Select(r => r["scenarios"]?["cap"]).Where(c => c?["target"] is not null).ToList();
        var capMet = poolCaps.Count > 0 && poolCaps.All(c => (bool?)c!["zeroFailures"] == true && (int?)c["overflow503"] == (int?)c["overflowAttempts"]);
        targets.Add(new JsonObject
        {
            ["target"] = "Holds MaxConnections with zero failures, 503 beyond it",
            ["measured"] = poolCaps.Count == 0 ? "n/a" : string.Join("; ", poolCaps.Select(c => $"held {c!["held"]}/{c["target"]}, failed {c["failed"]}, 503 {c["overflow503"]}/{c["overflowAttempts"]}")),
            ["met"] = poolCaps.Count == 0 ? null : capMet,
            ["clientBound"] = false,
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
                    ["target"] = $"Lease + release ≤ 1.2 × ConcurrentDictionary counter ({where})",
                    ["measured"] = ratio is null ? "n/a" : ratio.Value.ToString("0.00", CultureInfo.InvariantCulture) + "×",
                    ["met"] = ratio is null ? null : ratio <= 1.2,
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
        text.AppendLine(CultureInfo.InvariantCulture, $"Date: {document["date"]}; commit `{document["commit"]}`; {document["mode"]} mode, median of {document["repetitions"]} interleaved run(s) per server.");
        text.AppendLine(CultureInfo.InvariantCulture, $"1-minute load average during the runs: {document["loadAverage1m"]?["min"]}–{document["loadAverage1m"]?["max"]} (near 0 on a quiet machine; above {machine["nproc"]}, other work shared the cores and every figure is noisy).");
        text.AppendLine();
        if ((string?)document["note"] is { Length: > 0 } note)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"> Note: {note}");
            text.AppendLine();
        }

        if ((string?)document["mode"] == "quick")
        {
            text.AppendLine("> Quick mode: smaller N (see benchmarks/README.md), one run each, short durations. Treat these figures as a smoke run, not as publishable numbers.");
            text.AppendLine();
        }

        text.AppendLine(CultureInfo.InvariantCulture, $"A mode is listed under *client-bound* when the load client used ≥ {document["clientBoundThresholdCores"]} of a core during that scenario: those figures measure the client as much as the server.");
        text.AppendLine();
        text.AppendLine("| Metric | Unit | bare Kestrel | bare + writer queue | SignalR | WebSocketPool | pool ÷ bare | pool ÷ bare + queue | pool ÷ SignalR | client-bound |");
        text.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var (_, node) in document["metrics"]!.AsObject())
        {
            var row = node!;
            var bound = row["clientBound"]!.AsArray().Select(n => (string?)n).ToList();
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {row["label"]} | {row["unit"]} | {Format(row["bare"])} | {Format(row["barequeued"])} | {Format(row["signalr"])} | {Format(row["pool"])} | {Ratio(row["poolToBare"])} | {Ratio(row["poolToBareQueued"])} | {Ratio(row["poolToSignalR"])} | {(bound.Count == 0 ? "–" : string.Join(", ", bound))} |");
        }

        text.AppendLine();
        text.AppendLine("Close → release: for WebSocketPool, until the lease was released; for bare Kestrel and SignalR, which hold no lease, until their per-connection cleanup ran.");
        text.AppendLine();
        text.AppendLine("Two bare baselines: *bare Kestrel* awaits each socket's send in turn (what a hand-written loop does); *bare + writer queue* gives each connection a bounded queue and one writer, as the pool has, so a send to a user or to everyone queues and moves on. The second is the fair baseline for fan-out; it runs only the echo and send scenarios.");
        text.AppendLine();
        text.AppendLine("CPU used during each scenario, in cores (client / server):");
        text.AppendLine();
        text.AppendLine("| Scenario | bare Kestrel | bare + writer queue | SignalR | WebSocketPool |");
        text.AppendLine("|---|---|---|---|---|");
        foreach (var (scenario, node) in document["cpu"]!.AsObject())
        {
            string Cell(string mode) => node![mode] is { } c && c["clientCores"] is not null
                ? $"{Format(c["clientCores"])} / {Format(c["serverCores"])}{((bool?)c["clientBound"] == true ? " (client-bound)" : string.Empty)}"
                : "–";
            text.AppendLine(CultureInfo.InvariantCulture, $"| {scenario} | {Cell("bare")} | {Cell("barequeued")} | {Cell("signalr")} | {Cell("pool")} |");
        }

        text.AppendLine();
        text.AppendLine("## Targets (docs: DESIGN.md, \"Performance targets\")");
        text.AppendLine();
        text.AppendLine("| Target | Measured | Status |");
        text.AppendLine("|---|---|---|");
        foreach (var node in document["targets"]!.AsArray())
        {
            var met = (bool?)node!["met"];
            var status = met is null ? "not measured" : met.Value ? "met" : "missed";
            if ((bool?)node["clientBound"] == true)
            {
                status += " (client-bound)";
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

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace LoadHarness.Client;

/// <summary>
/// Turns the raw cluster runs (<c>cluster-signalr.json</c>, <c>cluster-pool.json</c>) into
/// benchmarks/results/cluster-latest.json, cluster-latest.md and cluster-latest.svg, and copies the report into the
/// README between its cluster markers.
/// </summary>
internal static class ClusterReportCommand
{
    /// <summary>The pool's idle Redis commands/s at the large size may be at most this multiple of the small size's.</summary>
    public const double FlatRenewalRatio = 1.25;

    private const string ReadmeStart = "<!-- cluster-results:start -->";
    private const string ReadmeEnd = "<!-- cluster-results:end -->";
    private static readonly string[] s_modes = ["signalr", "pool"];

    public static int Run(string rawDirectory, string outputDirectory, ReportInputs inputs)
    {
        var runs = s_modes.Select(m => Path.Combine(rawDirectory, $"cluster-{m}.json")).Where(File.Exists)
            .Select(f => JsonNode.Parse(File.ReadAllText(f))!.AsObject()).ToList();
        if (runs.Count == 0)
        {
            Console.Error.WriteLine($"No cluster-*.json files in {rawDirectory}.");
            return 1;
        }

        var settings = runs[0]["settings"]!.AsObject();
        var small = (int)settings["smallPerNode"]!;
        var large = (int)settings["largePerNode"]!;
        var loads = runs.SelectMany(r => new[] { (double?)r["loadAverage1mStart"], (double?)r["loadAverage1mEnd"] }).Where(v => v is not null).Select(v => v!.Value).DefaultIfEmpty(0).ToList();
        var document = new JsonObject
        {
            ["machine"] = ReportCommand.Machine(),
            ["date"] = runs.Select(r => (string?)r["finishedAt"]).Where(d => d is not null).DefaultIfEmpty(DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)).Max(),
            ["commit"] = inputs.Commit ?? "unknown",
            ["mode"] = runs.All(r => (bool?)r["quick"] == true) ? "quick" : "full",
            ["note"] = inputs.Note,
            ["loadAverage1m"] = new JsonObject { ["min"] = loads.Min(), ["max"] = loads.Max() },
            ["settings"] = settings.DeepClone(),
            ["redisVersion"] = runs.Select(r => (string?)r["cluster"]?["redisVersion"]).FirstOrDefault(v => v is not null),
            ["seconds"] = runs.Sum(r => (double?)r["seconds"] ?? 0),
        };

        var metrics = new JsonObject();
        foreach (var metric in ClusterMetric.All)
        {
            var row = new JsonObject { ["label"] = Label(metric.Label, small, large), ["unit"] = metric.Unit, ["higherIsBetter"] = metric.HigherIsBetter };
            foreach (var mode in s_modes)
            {
                var run = runs.FirstOrDefault(r => (string?)r["mode"] == mode);
                row[mode] = run is null ? null : metric.Read(run) is { } v ? Math.Round(v, 3) : null;
            }

            if (row["signalr"] is not null && row["pool"] is not null && (double)row["signalr"]! != 0)
            {
                row["poolToSignalR"] = Math.Round((double)row["pool"]! / (double)row["signalr"]!, 3);
            }

            metrics[metric.Id] = row;
        }

        document["metrics"] = metrics;
        document["goals"] = Goals(metrics, runs, small, large);
        document["errors"] = Errors(runs);
        document["runs"] = new JsonArray(runs.Select(r => (JsonNode)r.DeepClone()).ToArray());

        Directory.CreateDirectory(outputDirectory);
        File.WriteAllText(Path.Combine(outputDirectory, "cluster-latest.json"), document.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        var markdown = Markdown(document, runs, small, large);
        File.WriteAllText(Path.Combine(outputDirectory, "cluster-latest.md"), markdown);
        File.WriteAllText(Path.Combine(outputDirectory, "cluster-latest.svg"), ClusterChart.Render(document, small, large));
        if (inputs.Readme is { } readme && File.Exists(readme))
        {
            UpdateReadme(readme, markdown);
        }

        Console.WriteLine(markdown);
        return 0;
    }

    private static string Label(string label, int small, int large) =>
        label.Replace("{small}", small.ToString("N0", CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("{large}", large.ToString("N0", CultureInfo.InvariantCulture), StringComparison.Ordinal);

    private static JsonArray Goals(JsonObject metrics, List<JsonObject> runs, int small, int large)
    {
        var goals = new JsonArray();
        void Add(string goal, string measured, bool? met, string? remark = null) =>
            goals.Add(new JsonObject { ["goal"] = goal, ["measured"] = measured, ["met"] = met, ["remark"] = remark });

        foreach (var (id, how) in new[] { ("throughput.deliveredPerSecond", "sends awaited one by one"), ("throughputConcurrent.deliveredPerSecond", "a burst's sends started together") })
        {
            var ratio = (double?)metrics[id]?["poolToSignalR"];
            Add($"Cross-node send to user ≥ 2 × SignalR with its Redis backplane ({how})",
                ratio is null ? "n/a" : $"{ratio.Value.ToString("0.00", CultureInfo.InvariantCulture)}× ({ReportCommand.Format(metrics[id]!["pool"])} vs {ReportCommand.Format(metrics[id]!["signalr"])} messages/s)",
                ratio is null ? null : ratio >= 2);
        }

        var smallRate = (double?)metrics["idleSmall.commandsPerSecond"]?["pool"];
        var largeRate = (double?)metrics["idleLarge.commandsPerSecond"]?["pool"];
        var flat = smallRate is null || largeRate is null ? (double?)null : smallRate == 0 ? (largeRate == 0 ? 1 : double.PositiveInfinity) : largeRate / smallRate;
        Add($"Renewal traffic flat as users grow: idle Redis commands/s at {large:N0} per node ≤ {FlatRenewalRatio.ToString("0.##", CultureInfo.InvariantCulture)} × at {small:N0} per node (pool)",
            flat is null ? "n/a" : $"{smallRate!.Value.ToString("0.##", CultureInfo.InvariantCulture)} → {largeRate!.Value.ToString("0.##", CultureInfo.InvariantCulture)} commands/s ({flat.Value.ToString("0.00", CultureInfo.InvariantCulture)}×)",
            flat is null ? null : flat <= FlatRenewalRatio);

        var kill = runs.FirstOrDefault(r => (string?)r["mode"] == "pool")?["scenarios"]?["kill"];
        var ttl = (double?)kill?["leaseTtlSeconds"];
        var dropped = (double?)kill?["droppedAfterSeconds"];
        Add($"A killed node's slots come back within LeaseTtl{(ttl is null ? string.Empty : $" ({ttl.Value.ToString("0.##", CultureInfo.InvariantCulture)} s)")}",
            dropped is null ? "n/a" : $"{dropped.Value.ToString("0.0##", CultureInfo.InvariantCulture)} s after SIGKILL (polled every {kill!["pollIntervalMs"]} ms)",
            dropped is null || ttl is null ? null : dropped <= ttl,
            ttl is null ? null : $"the node beats every {(ttl.Value / 3).ToString("0.##", CultureInfo.InvariantCulture)} s, so {(ttl.Value * 2 / 3).ToString("0.##", CultureInfo.InvariantCulture)}–{ttl.Value.ToString("0.##", CultureInfo.InvariantCulture)} s is expected");
        return goals;
    }

    private static JsonArray Errors(List<JsonObject> runs)
    {
        var errors = new JsonArray();
        foreach (var run in runs)
        {
            if ((string?)run["error"] is { } error)
            {
                errors.Add($"{run["mode"]}: {error}");
            }

            foreach (var (name, node) in run["scenarios"]?.AsObject() ?? [])
            {
                var items = node is JsonArray array ? array.ToList() : [node];
                foreach (var item in items)
                {
                    if ((string?)item?["error"] is { } stepError)
                    {
                        errors.Add($"{run["mode"]} {name}: {stepError}");
                    }
                }
            }
        }

        return errors;
    }

    private static string Markdown(JsonObject document, List<JsonObject> runs, int small, int large)
    {
        var machine = document["machine"]!;
        var settings = document["settings"]!;
        var pool = runs.FirstOrDefault(r => (string?)r["mode"] == "pool");
        var signalR = runs.FirstOrDefault(r => (string?)r["mode"] == "signalr");
        var text = new StringBuilder();
        text.AppendLine("# WebSocketPool cluster benchmark");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"Machine: {machine["cpuModel"]}, {machine["nproc"]} cores, {machine["memoryGiB"]} GiB; {machine["os"]}; .NET {machine["dotnet"]}; redis-server {document["redisVersion"]}.  ");
        text.AppendLine(CultureInfo.InvariantCulture, $"Date: {document["date"]}; commit `{document["commit"]}`; {document["mode"]} mode; both clusters took {Math.Round((double)document["seconds"]! / 60, 1).ToString(CultureInfo.InvariantCulture)} min.  ");
        text.AppendLine(CultureInfo.InvariantCulture, $"1-minute load average during the runs: {document["loadAverage1m"]?["min"]}–{document["loadAverage1m"]?["max"]} (near 0 on a quiet machine; above {machine["nproc"]}, other work shared the cores and every figure is noisy).");
        text.AppendLine();
        if ((string?)document["note"] is { Length: > 0 } note)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"> Note: {note}");
            text.AppendLine();
        }

        if ((string?)document["mode"] == "quick")
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"> Quick mode: {large:N0} idle connections per node instead of 15,000, short windows, one repetition. A smoke run, not publishable numbers.");
            text.AppendLine();
        }

        text.AppendLine(CultureInfo.InvariantCulture,
            $"Each server runs as {runs[0]["nodes"]} nodes on one fresh redis-server (SignalR with `Microsoft.AspNetCore.SignalR.StackExchangeRedis`, WebSocketPool with `WebSocketPool.Redis`, LeaseTtl {settings["leaseTtlSeconds"]} s). " +
            $"Idle connections: {small:N0}, then {large:N0} per node, held by child client processes of at most {(int)settings["connectionsPerClientProcess"]!:N0} connections each; every idle user has one connection on each node. " +
            $"Sends: node 1 is asked (`POST /bench/send-to-user`) to send 32-byte messages to a user whose {2 * (int)settings["receiversPerNode"]!} connections are on nodes 2 and 3 ({settings["receiversPerNode"]} each), so every message crosses Redis; " +
            $"latency is the receiver's clock minus the send's Stopwatch stamp in the message.");
        text.AppendLine();

        var errors = document["errors"]!.AsArray();
        if (errors.Count > 0)
        {
            text.AppendLine("**Steps that failed:** " + string.Join("; ", errors.Select(e => (string?)e)));
            text.AppendLine();
        }

        text.AppendLine("## Goals");
        text.AppendLine();
        text.AppendLine("| Goal | Measured | Status |");
        text.AppendLine("|---|---|---|");
        foreach (var goal in document["goals"]!.AsArray())
        {
            var met = (bool?)goal!["met"];
            var remark = (string?)goal["remark"] is { } r ? $" ({r})" : string.Empty;
            text.AppendLine(CultureInfo.InvariantCulture, $"| {goal["goal"]} | {goal["measured"]}{remark} | {(met is null ? "not measured" : met.Value ? "met" : "missed")} |");
        }

        text.AppendLine();
        text.AppendLine("## Figures");
        text.AppendLine();
        text.AppendLine("| Metric | Unit | SignalR + backplane | WebSocketPool.Redis | pool ÷ SignalR |");
        text.AppendLine("|---|---|---:|---:|---:|");
        foreach (var (_, node) in document["metrics"]!.AsObject())
        {
            var label = ((string)node!["label"]!).Replace("  ", "&nbsp;&nbsp;", StringComparison.Ordinal);
            text.AppendLine(CultureInfo.InvariantCulture, $"| {label} | {node["unit"]} | {ReportCommand.Format(node["signalr"])} | {ReportCommand.Format(node["pool"])} | {ReportCommand.Ratio(node["poolToSignalR"])} |");
        }

        text.AppendLine();
        text.AppendLine("Latency under load includes the queueing of each burst of 500; the paced figures send one message at a time and wait for all its copies. " +
            "Bus bytes come from the kernel's per-socket counters (`ss -tinp`, `bytes_received` / `bytes_acked`) of each node's TCP connections to Redis, over " +
            $"{(int)settings["busBytesSends"]!:N0} sends; Redis 7.0's CLIENT LIST has no per-client byte counters.");
        text.AppendLine();

        text.AppendLine("### Idle Redis load");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"INFO deltas over {settings["idleWindowSeconds"]} s with every connection held and nothing sent (the harness's own INFO calls left out).");
        text.AppendLine("Redis counts the commands a Lua script runs as well as the script call itself (`evalsha`); `info` and `ping` calls come from StackExchange.Redis's own periodic checks.");
        text.AppendLine();
        text.AppendLine("| Server | Idle connections per node | Commands/s | Commands in the window | Redis CPU (% of a core) | Redis used memory | Keys |");
        text.AppendLine("|---|---:|---:|---|---:|---:|---:|");
        foreach (var run in new[] { signalR, pool })
        {
            if (run is null)
            {
                continue;
            }

            foreach (var size in new[] { "idleSmall", "idleLarge" })
            {
                var idle = run["scenarios"]?[size];
                if (idle?["commandsPerSecond"] is null)
                {
                    continue;
                }

                var calls = idle["calls"]!.AsObject();
                var callText = calls.Count == 0 ? "none" : string.Join(", ", calls.Select(c => $"{c.Key} {c.Value}"));
                text.AppendLine(CultureInfo.InvariantCulture,
                    $"| {Name(run)} | {(int)idle["perNode"]!:N0} | {ReportCommand.Format(idle["commandsPerSecond"])} | {callText} | {ReportCommand.Format(idle["redisCpuPercentOfCore"])} | {(long)idle["redisUsedMemoryBytes"]! / 1024.0 / 1024.0:0.0} MB | {(long)idle["redisKeys"]!:N0} |");
            }
        }

        text.AppendLine();
        text.AppendLine("### Bus bytes per send to one user");
        text.AppendLine();
        text.AppendLine("| Node | Role | SignalR: received / sent | WebSocketPool: received / sent |");
        text.AppendLine("|---|---|---:|---:|");
        var signalRNodes = signalR?["scenarios"]?["busBytes"]?["perNode"] as JsonArray;
        var poolNodes = pool?["scenarios"]?["busBytes"]?["perNode"] as JsonArray;
        for (var i = 0; i < Math.Max(signalRNodes?.Count ?? 0, poolNodes?.Count ?? 0); i++)
        {
            static string Cell(JsonArray? nodes, int i) => nodes is null || i >= nodes.Count || nodes[i]?["receivedPerSend"] is null
                ? "–"
                : $"{ReportCommand.Format(nodes[i]!["receivedPerSend"])} B / {ReportCommand.Format(nodes[i]!["sentPerSend"])} B";
            var role = (string?)(poolNodes ?? signalRNodes)![i]?["role"];
            text.AppendLine(CultureInfo.InvariantCulture, $"| {i + 1} | {role} | {Cell(signalRNodes, i)} | {Cell(poolNodes, i)} |");
        }

        string RedisTotals(JsonObject? run) => run?["scenarios"]?["busBytes"] is { } b && b["redisInputPerSend"] is not null
            ? $"{ReportCommand.Format(b["redisInputPerSend"])} B in, {ReportCommand.Format(b["redisOutputPerSend"])} B out, commands {ReportCommand.Format(b["redisCommandsPerSend"])}"
            : "–";
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"Redis's own totals per send: SignalR {RedisTotals(signalR)}; WebSocketPool {RedisTotals(pool)}.");
        text.AppendLine();

        if (pool?["scenarios"]?["kill"] is JsonObject kill && kill["users"] is JsonArray users)
        {
            text.AppendLine("### A node killed with SIGKILL (WebSocketPool)");
            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture,
                $"Node {kill["killedNode"]} was killed; node {kill["observerNode"]} was asked every {kill["pollIntervalMs"]} ms for the user's connections across the cluster (`WebSocketClusterPresence.GetConnectionCountAsync`). LeaseTtl {kill["leaseTtlSeconds"]} s, heartbeat every {kill["heartbeatSeconds"]} s.");
            text.AppendLine();
            text.AppendLine("| User | Count before | Count after | Dropped after |");
            text.AppendLine("|---|---:|---:|---:|");
            foreach (var user in users)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"| {user!["user"]} | {user["countBefore"]} | {user["countAfter"]?.ToString() ?? "–"} | {(user["droppedAfterSeconds"] is null ? "not within the bound" : $"{user["droppedAfterSeconds"]} s")} |");
            }

            text.AppendLine();
        }

        text.AppendLine("### CPU during the throughput runs (cores)");
        text.AppendLine();
        text.AppendLine("| Server | Sends | Client | Node 1 (sender) | Node 2 | Node 3 | Redis |");
        text.AppendLine("|---|---|---:|---:|---:|---:|---:|");
        foreach (var run in new[] { signalR, pool })
        {
            foreach (var (scenario, how) in new[] { ("throughput", "one by one"), ("throughputConcurrent", "started together") })
            {
                if (run?["scenarios"]?[scenario] is not JsonArray reps)
                {
                    continue;
                }

                foreach (var rep in reps.Where(r => r?["clientCores"] is not null))
                {
                    var nodes = rep!["nodeCores"]!.AsArray().Select(c => ReportCommand.Format(c)).ToList();
                    while (nodes.Count < 3)
                    {
                        nodes.Add("–");
                    }

                    var bound = (bool?)rep["clientBound"] == true ? " (client-bound)" : string.Empty;
                    text.AppendLine(CultureInfo.InvariantCulture, $"| {Name(run)} | {how} | {ReportCommand.Format(rep["clientCores"])}{bound} | {nodes[0]} | {nodes[1]} | {nodes[2]} | {ReportCommand.Format(rep["redisCores"])} |");
                }
            }
        }

        text.AppendLine();
        text.AppendLine("![Cluster: send to user, latency and idle Redis load](cluster-latest.svg)");
        return text.ToString();

        static string Name(JsonObject run) => (string?)run["mode"] == "pool" ? "WebSocketPool" : "SignalR";
    }

    private static void UpdateReadme(string readme, string markdown) =>
        ReadmeSection.Replace(readme, ReadmeStart, ReadmeEnd, markdown, "cluster-latest.svg", "# WebSocketPool cluster benchmark", "### Latest cluster results");
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Text.Json.Nodes;

namespace LoadHarness.Client;

/// <summary>
/// One figure of the cluster report: how to read it from a mode's raw run (the median over repetitions where a
/// scenario repeats), how to show it, and which way is better.
/// </summary>
internal sealed record ClusterMetric(string Id, string Label, string Unit, bool HigherIsBetter, Func<JsonObject, double?> Read)
{
    public static readonly ClusterMetric[] All =
    [
        new("throughput.deliveredPerSecond", "Cross-node send to one user, sends awaited one by one", "messages/s", true, r => Median(r, "throughput", "deliveredPerSecond")),
        new("throughput.p50Ms", "  latency p50 (under load: bursts of 500)", "ms", false, r => Median(r, "throughput", "p50Ms")),
        new("throughput.p99Ms", "  latency p99 (under load: bursts of 500)", "ms", false, r => Median(r, "throughput", "p99Ms")),
        new("throughput.serverCpuMicrosPerMessage", "  CPU of the nodes and Redis per delivered message", "µs", false, r => Median(r, "throughput", ServerCpuPerMessage)),
        new("throughputConcurrent.deliveredPerSecond", "Cross-node send to one user, a burst's sends started together", "messages/s", true, r => Median(r, "throughputConcurrent", "deliveredPerSecond")),
        new("throughputConcurrent.p99Ms", "  latency p99 (under load: bursts of 500)", "ms", false, r => Median(r, "throughputConcurrent", "p99Ms")),
        new("throughputConcurrent.serverCpuMicrosPerMessage", "  CPU of the nodes and Redis per delivered message", "µs", false, r => Median(r, "throughputConcurrent", ServerCpuPerMessage)),
        new("paced.p50Ms", "Cross-node latency p50, one message at a time", "ms", false, r => Field(r, "paced", "p50Ms")),
        new("paced.p99Ms", "Cross-node latency p99, one message at a time", "ms", false, r => Field(r, "paced", "p99Ms")),
        new("idleSmall.commandsPerSecond", "Idle Redis commands/s, {small} idle connections per node", "commands/s", false, r => Field(r, "idleSmall", "commandsPerSecond")),
        new("idleLarge.commandsPerSecond", "Idle Redis commands/s, {large} idle connections per node", "commands/s", false, r => Field(r, "idleLarge", "commandsPerSecond")),
        new("idleSmall.redisCpuPercentOfCore", "Idle Redis CPU, {small} per node", "% of a core", false, r => Field(r, "idleSmall", "redisCpuPercentOfCore")),
        new("idleLarge.redisCpuPercentOfCore", "Idle Redis CPU, {large} per node", "% of a core", false, r => Field(r, "idleLarge", "redisCpuPercentOfCore")),
        new("idleLarge.redisUsedMemoryMB", "Redis used memory, {large} per node", "MB", false, r => Field(r, "idleLarge", "redisUsedMemoryBytes") / (1024.0 * 1024.0)),
        new("node.rssPerIdleConnectionKB", "Node RSS per idle connection (large − small size, no forced GC)", "KB", false, RssPerConnection),
        new("busBytes.receiverReceivedPerSend", "Bytes a receiving node got from Redis per send", "B", false, r => NodeBytes(r, receivers: true, "receivedPerSend")),
        new("busBytes.senderSentPerSend", "Bytes the sending node sent to Redis per send", "B", false, r => NodeBytes(r, receivers: false, "sentPerSend")),
        new("busBytes.senderReceivedPerSend", "Bytes the sending node got from Redis per send", "B", false, r => NodeBytes(r, receivers: false, "receivedPerSend")),
        new("kill.droppedAfterSeconds", "Killed node: its slots stop counting after", "s", false, r => Field(r, "kill", "droppedAfterSeconds")),
    ];

    public static double? Field(JsonObject run, string scenario, string field) =>
        run["scenarios"]?[scenario]?[field] is JsonValue value && value.TryGetValue<double>(out var d) && !double.IsNaN(d) ? d : null;

    public static double? Median(JsonObject run, string scenario, string field) =>
        Median(run, scenario, r => r[field] is JsonValue v && v.TryGetValue<double>(out var d) && !double.IsNaN(d) ? d : null);

    /// <summary>The median over a repeated scenario's runs of a figure read from each.</summary>
    public static double? Median(JsonObject run, string scenario, Func<JsonNode, double?> read)
    {
        if (run["scenarios"]?[scenario] is not JsonArray repetitions)
        {
            return null;
        }

        var values = repetitions
            .Select(r => r is null ? null : read(r))
            .Where(v => v is not null)
            .Select(v => v!.Value)
            .Order()
            .ToList();
        return values.Count == 0 ? null
            : values.Count % 2 == 1 ? values[values.Count / 2]
            : (values[(values.Count / 2) - 1] + values[values.Count / 2]) / 2;
    }

    /// <summary>CPU seconds the three nodes and Redis used per second, divided by messages delivered per second, in µs.</summary>
    private static double? ServerCpuPerMessage(JsonNode repetition)
    {
        if (repetition["nodeCores"] is not JsonArray nodes || repetition["redisCores"] is null || repetition["deliveredPerSecond"] is null
            || (double)repetition["deliveredPerSecond"]! <= 0)
        {
            return null;
        }

        var cores = nodes.Sum(n => (double)n!) + (double)repetition["redisCores"]!;
        return cores / (double)repetition["deliveredPerSecond"]! * 1_000_000;
    }

    private static double? RssPerConnection(JsonObject run)
    {
        if (run["scenarios"]?["idleSmall"]?["nodeRssBytes"] is not JsonArray small || run["scenarios"]?["idleLarge"]?["nodeRssBytes"] is not JsonArray large
            || Field(run, "idleSmall", "perNode") is not { } smallPerNode || Field(run, "idleLarge", "perNode") is not { } largePerNode || largePerNode <= smallPerNode)
        {
            return null;
        }

        var perNode = small.Zip(large, (s, l) => ((double)l! - (double)s!) / (largePerNode - smallPerNode)).ToList();
        return perNode.Count == 0 ? null : perNode.Average() / 1024.0;
    }

    private static double? NodeBytes(JsonObject run, bool receivers, string field)
    {
        if (run["scenarios"]?["busBytes"]?["perNode"] is not JsonArray nodes)
        {
            return null;
        }

        var values = nodes.Where(n => ((int?)n!["node"] == 1) != receivers)
            .Select(n => n![field] is JsonValue v && v.TryGetValue<double>(out var d) ? d : (double?)null)
            .Where(v => v is not null)
            .Select(v => v!.Value)
            .ToList();
        return values.Count == 0 ? null : values.Average();
    }
}

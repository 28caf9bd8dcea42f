// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace LoadHarness.Client;

/// <summary>
/// The growth curve's part of the report: from the raw <c>growth-ROUND-MODE.json</c> files, per server and step, the
/// median (and min–max over rounds) of memory per connection, echo latency and connect time, and whether any of it was
/// noisy or client-bound.
/// </summary>
internal static class GrowthReport
{
    /// <summary>The fields shown per step: JSON field, column heading, scale.</summary>
    public static readonly (string Field, string Heading, double Scale)[] Fields =
    [
        ("heapPerConnectionBytes", "Heap / connection (KB)", 1 / 1024.0),
        ("rssPerConnectionBytes", "RSS / connection (KB)", 1 / 1024.0),
        ("echoP99Ms", "Echo p99 (ms)", 1),
        ("connectP50Ms", "Connect p50 (ms)", 1),
        ("connectP99Ms", "Connect p99 (ms)", 1),
    ];

    private static readonly string[] s_order = ["bare", "barequeued", "signalr", "pool"];

    public static JsonObject? Build(string rawDirectory)
    {
        var files = Directory.GetFiles(rawDirectory, "growth-*.json").Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0)
        {
            return null;
        }

        var runs = files.Select(f => JsonNode.Parse(File.ReadAllText(f))!.AsObject()).ToList();
        var modes = s_order.Where(m => runs.Any(r => (string?)r["mode"] == m)).ToList();
        var rows = new JsonArray();
        var figures = 0;
        var noisyFigures = 0;
        foreach (var mode in modes)
        {
            var steps = runs.Where(r => (string?)r["mode"] == mode)
                .SelectMany(r => r["scenarios"]?["growth"]?["steps"]?.AsArray().Select(s => s!.AsObject()) ?? [])
                .GroupBy(s => (int)s["target"]!)
                .OrderBy(g => g.Key);
            foreach (var step in steps)
            {
                var noisy = step.Any(s => (bool?)s["noisy"] != false);
                var row = new JsonObject
                {
                    ["mode"] = mode,
                    ["target"] = step.Key,
                    ["held"] = step.Min(s => (int)s["held"]!),
                    ["failed"] = step.Sum(s => (int)s["failed"]!),
                    ["rounds"] = step.Count(),
                    ["noisy"] = noisy,
                    ["clientBound"] = step.Any(s => (bool?)s["clientBound"] == true),
                    ["loadAverage1m"] = new JsonArray(step.Select(s => (JsonNode?)s["loadAverage1m"]?.DeepClone()).ToArray()),
                };
                foreach (var (field, _, scale) in Fields)
                {
                    var values = step.Select(s => (double?)s[field]).Where(v => v is not null).Select(v => v!.Value * scale).Order().ToList();
                    if (values.Count == 0)
                    {
                        continue;
                    }

                    var median = values.Count % 2 == 1 ? values[values.Count / 2] : (values[(values.Count / 2) - 1] + values[values.Count / 2]) / 2;
                    row[field] = new JsonObject { ["median"] = Math.Round(median, 3), ["min"] = Math.Round(values[0], 3), ["max"] = Math.Round(values[^1], 3), ["n"] = values.Count };
                    figures++;
                    noisyFigures += noisy ? 1 : 0;
                }

                rows.Add(row);
            }
        }

        return new JsonObject
        {
            ["modes"] = new JsonArray(modes.Select(m => (JsonNode)m).ToArray()),
            ["echoConnections"] = runs.Select(r => (int?)r["scenarios"]?["growth"]?["echoConnections"]).FirstOrDefault(v => v is not null),
            ["rounds"] = runs.Max(r => (int)r["repetition"]!),
            ["rows"] = rows,
            ["figures"] = figures,
            ["noisyFigures"] = noisyFigures,
        };
    }

    public static void AppendMarkdown(StringBuilder text, JsonObject growth)
    {
        text.AppendLine("## Growth curve");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"One server process per server, ramped through the steps by child client processes (at most 5,000 connections each; a process may open 20,000 files). At each step, just before its ramp, {growth["echoConnections"]} echoing connections are opened (and closed after the step), and the ramp opens the rest of the step's count, so that the open connections, echoing ones included, are the step's figure (the last one is the pool's cap, the descriptor budget of 20,000 files); at each step: managed heap (after a forced GC) and RSS over the process before the ramp, divided by the connections open; echo latency of those {growth["echoConnections"]} connections (one 32-byte message in flight each); the time each connect of the step's ramp took (64 connects in flight per client process). Rounds: {growth["rounds"]}; with more than one, the median and (min–max).");
        text.AppendLine();
        text.AppendLine("| Server | Open connections | " + string.Join(" | ", Fields.Select(f => f.Heading)) + " | failed | client-bound | noisy |");
        text.AppendLine("|---|---:|" + string.Concat(Fields.Select(_ => "---:|")) + "---:|---|---|");
        foreach (var node in growth["rows"]!.AsArray())
        {
            var row = node!;
            var cells = Fields.Select(f => row[f.Field] is { } v
                ? ReportCommand.Format(v["median"]) + ((int)v["n"]! > 1 ? $" ({ReportCommand.Format(v["min"])}–{ReportCommand.Format(v["max"])})" : string.Empty)
                : "–");
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {Label((string)row["mode"]!)} | {(int)row["held"]!:N0} | {string.Join(" | ", cells)} | {row["failed"]} | {((bool?)row["clientBound"] == true ? "yes" : "–")} | {((bool?)row["noisy"] == true ? "noisy" : "–")} |");
        }

        text.AppendLine();
        text.AppendLine("![Growth curve](growth-latest.svg)");
    }

    public static string Label(string mode) => mode switch
    {
        "bare" => "bare Kestrel",
        "barequeued" => "bare + writer queue",
        "signalr" => "SignalR",
        "pool" => "WebSocketPool",
        _ => mode,
    };
}

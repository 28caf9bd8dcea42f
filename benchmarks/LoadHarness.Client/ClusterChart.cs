// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace LoadHarness.Client;

/// <summary>
/// The cluster report's chart, written as SVG text: three panels side by side, each on its own scale, with SignalR
/// and WebSocketPool bars per group: cross-node send-to-user rate, p99 latency, and idle Redis commands/s by size.
/// </summary>
internal static class ClusterChart
{
    private const int Width = 960;
    private const int Height = 420;
    private const int Top = 70;
    private const int Bottom = 80;
    private const int PanelGap = 30;
    private const int Left = 20;
    private static readonly (string Mode, string Label, string Color)[] s_series =
    [
        ("signalr", "SignalR + Redis backplane", "#e57373"),
        ("pool", "WebSocketPool.Redis", "#1e88e5"),
    ];

    public static string Render(JsonObject document, int small, int large)
    {
        var metrics = document["metrics"]!;
        var panels = new (string Title, string Unit, (string Label, string Metric)[] Groups)[]
        {
            ("Cross-node send to one user", "messages/s, higher is better",
                [("awaited one by one", "throughput.deliveredPerSecond"), ("started together", "throughputConcurrent.deliveredPerSecond")]),
            ("Cross-node latency p99", "ms, lower is better",
                [("one message at a time", "paced.p99Ms"), ("bursts of 500, one by one", "throughput.p99Ms")]),
            ("Idle Redis commands/s", "lower and flat is better",
                [($"{small:N0} conn./node", "idleSmall.commandsPerSecond"), ($"{large:N0} conn./node", "idleLarge.commandsPerSecond")]),
        };

        var svg = new StringBuilder();
        svg.AppendLine(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" font-family=\"sans-serif\" font-size=\"12\">");
        svg.AppendLine(CultureInfo.InvariantCulture, $"<rect width=\"{Width}\" height=\"{Height}\" fill=\"white\"/>");
        svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{Left}\" y=\"22\" font-size=\"16\" font-weight=\"bold\">Three nodes on one Redis: SignalR's backplane and WebSocketPool.Redis</text>");
        svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{Left}\" y=\"40\" fill=\"#555\">{Escape($"{document["machine"]?["cpuModel"]}, {document["machine"]?["nproc"]} cores; {document["date"]}; commit {document["commit"]}; {document["mode"]} mode; load average {document["loadAverage1m"]?["min"]}–{document["loadAverage1m"]?["max"]}")}</text>");

        var panelWidth = (Width - Left - 20 - ((panels.Length - 1) * PanelGap)) / (double)panels.Length;
        var plotHeight = Height - Top - Bottom;
        for (var p = 0; p < panels.Length; p++)
        {
            var (title, unit, groups) = panels[p];
            var x0 = Left + (p * (panelWidth + PanelGap));
            var values = groups.Select(g => s_series.Select(s => (double?)metrics[g.Metric]?[s.Mode]).ToArray()).ToList();
            var max = values.SelectMany(v => v).Where(v => v is not null).Select(v => v!.Value).DefaultIfEmpty(0).Max();
            max = max <= 0 ? 1 : max * 1.18;
            svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{x0 + (panelWidth / 2):F1}\" y=\"{Top - 12}\" text-anchor=\"middle\" font-weight=\"bold\">{Escape(title)}</text>");
            svg.AppendLine(CultureInfo.InvariantCulture, $"<line x1=\"{x0:F1}\" y1=\"{Top + plotHeight}\" x2=\"{x0 + panelWidth:F1}\" y2=\"{Top + plotHeight}\" stroke=\"#333\"/>");
            var groupWidth = panelWidth / groups.Length;
            var barWidth = groupWidth / (s_series.Length + 1);
            for (var g = 0; g < groups.Length; g++)
            {
                var gx = x0 + (g * groupWidth) + (barWidth / 2);
                for (var s = 0; s < s_series.Length; s++)
                {
                    if (values[g][s] is not { } value)
                    {
                        continue;
                    }

                    var h = value / max * plotHeight;
                    var x = gx + (s * barWidth);
                    var y = Top + plotHeight - h;
                    svg.AppendLine(CultureInfo.InvariantCulture, $"<rect x=\"{x:F1}\" y=\"{y:F1}\" width=\"{barWidth - 4:F1}\" height=\"{h:F1}\" fill=\"{s_series[s].Color}\"/>");
                    svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{x + ((barWidth - 4) / 2):F1}\" y=\"{y - 4:F1}\" text-anchor=\"middle\" font-size=\"10\">{Escape(Short(value))}</text>");
                }

                svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{x0 + (g * groupWidth) + (groupWidth / 2):F1}\" y=\"{Top + plotHeight + 16}\" text-anchor=\"middle\" font-size=\"11\">{Escape(groups[g].Label)}</text>");
            }

            svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{x0 + (panelWidth / 2):F1}\" y=\"{Top + plotHeight + 34}\" text-anchor=\"middle\" fill=\"#555\">{Escape(unit)}</text>");
        }

        for (var s = 0; s < s_series.Length; s++)
        {
            var x = Left + (s * 240);
            var y = Height - 20;
            svg.AppendLine(CultureInfo.InvariantCulture, $"<rect x=\"{x}\" y=\"{y - 10}\" width=\"12\" height=\"12\" fill=\"{s_series[s].Color}\"/>");
            svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{x + 18}\" y=\"{y}\">{Escape(s_series[s].Label)}</text>");
        }

        svg.AppendLine("</svg>");
        return svg.ToString();
    }

    private static string Short(double value) => value switch
    {
        >= 1_000_000 => (value / 1_000_000).ToString("0.##", CultureInfo.InvariantCulture) + "M",
        >= 10_000 => (value / 1_000).ToString("0.#", CultureInfo.InvariantCulture) + "k",
        >= 100 => value.ToString("N0", CultureInfo.InvariantCulture),
        _ => value.ToString("0.##", CultureInfo.InvariantCulture),
    };

    private static string Escape(string text) => WebUtility.HtmlEncode(text);
}

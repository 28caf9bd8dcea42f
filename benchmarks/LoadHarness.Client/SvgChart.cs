// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace LoadHarness.Client;

/// <summary>A grouped bar chart, written as SVG text: for each charted metric, SignalR and WebSocketPool relative to bare Kestrel (= 1).</summary>
internal static class SvgChart
{
    private const int Width = 960;
    private const int Height = 420;
    private const int Left = 60;
    private const int Top = 60;
    private const int Bottom = 110;
    private static readonly (string Mode, string Label, string Color)[] s_series =
    [
        ("bare", "bare Kestrel", "#9e9e9e"),
        ("signalr", "SignalR", "#e57373"),
        ("pool", "WebSocketPool", "#1e88e5"),
    ];

    private static readonly Dictionary<string, string> s_shortLabels = new(StringComparer.Ordinal)
    {
        ["idle.rssPerConnectionBytes"] = "Memory / idle conn.",
        ["churn.cyclesPerSecond"] = "Churn cycles/s",
        ["echo.roundTripsPerSecond"] = "Echo round trips/s",
        ["echo.p99Ms"] = "Echo p99",
        ["sendToUser.deliveredPerSecond"] = "Send to user",
        ["sendToUserAmongOthers.deliveredPerSecond"] = "Send to user (+others)",
        ["broadcast.deliveredPerSecond"] = "Broadcast",
        ["broadcastChurn.connectP99BroadcastMs"] = "Conn. p99, bcast",
    };

    public static string Render(JsonObject medians, JsonObject document)
    {
        var metrics = MetricDefinition.All.Where(m => m.Chart).ToList();
        var ratios = metrics.Select(m => s_series.Select(s => Ratio(medians[m.Id], s.Mode)).ToArray()).ToList();
        var max = Math.Max(1.2, ratios.SelectMany(r => r).Where(r => r is not null).Select(r => r!.Value).DefaultIfEmpty(1).Max() * 1.15);
        var plotHeight = Height - Top - Bottom;
        var groupWidth = (Width - Left - 20) / (double)metrics.Count;
        var barWidth = groupWidth / (s_series.Length + 1);
        var svg = new StringBuilder();
        svg.AppendLine(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" font-family=\"sans-serif\" font-size=\"12\">");
        svg.AppendLine(CultureInfo.InvariantCulture, $"<rect width=\"{Width}\" height=\"{Height}\" fill=\"white\"/>");
        svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{Left}\" y=\"22\" font-size=\"16\" font-weight=\"bold\">Relative to bare Kestrel (= 1.0), median of runs</text>");
        svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{Left}\" y=\"40\" fill=\"#555\">{Escape($"{document["machine"]?["cpuModel"]}, {document["machine"]?["nproc"]} cores; {document["date"]}; commit {document["commit"]}; {document["mode"]} mode; {document["noisyFigures"]} of {document["figures"]} figures noisy")}</text>");

        // Axis and the 1.0 line.
        for (var tick = 0.0; tick <= max + 1e-9; tick += max > 4 ? 1 : 0.25)
        {
            var y = Top + plotHeight - (tick / max * plotHeight);
            svg.AppendLine(CultureInfo.InvariantCulture, $"<line x1=\"{Left}\" y1=\"{y:F1}\" x2=\"{Width - 20}\" y2=\"{y:F1}\" stroke=\"{(Math.Abs(tick - 1) < 1e-9 ? "#333" : "#e0e0e0")}\"/>");
            svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{Left - 6}\" y=\"{y + 4:F1}\" text-anchor=\"end\">{tick:0.##}</text>");
        }

        for (var g = 0; g < metrics.Count; g++)
        {
            var x0 = Left + (g * groupWidth) + (barWidth / 2);
            for (var s = 0; s < s_series.Length; s++)
            {
                var ratio = ratios[g][s];
                if (ratio is null)
                {
                    continue;
                }

                var h = ratio.Value / max * plotHeight;
                var x = x0 + (s * barWidth);
                var y = Top + plotHeight - h;
                svg.AppendLine(CultureInfo.InvariantCulture, $"<rect x=\"{x:F1}\" y=\"{y:F1}\" width=\"{barWidth - 4:F1}\" height=\"{h:F1}\" fill=\"{s_series[s].Color}\"/>");
                svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{x + ((barWidth - 4) / 2):F1}\" y=\"{y - 4:F1}\" text-anchor=\"middle\" font-size=\"11\">{ratio.Value:0.00}</text>");
            }

            var label = s_shortLabels.GetValueOrDefault(metrics[g].Id, metrics[g].Label);
            var direction = metrics[g].HigherIsBetter ? "higher is better" : "lower is better";
            var bound = medians[metrics[g].Id]?["clientBound"]?.AsArray().Count > 0 ? "client-bound" : string.Empty;
            var cx = Left + (g * groupWidth) + (groupWidth / 2);
            svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{cx:F1}\" y=\"{Top + plotHeight + 18}\" text-anchor=\"middle\">{Escape(label)}</text>");
            svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{cx:F1}\" y=\"{Top + plotHeight + 34}\" text-anchor=\"middle\" fill=\"#555\">{direction}</text>");
            if (bound.Length > 0)
            {
                svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{cx:F1}\" y=\"{Top + plotHeight + 50}\" text-anchor=\"middle\" fill=\"#b71c1c\">{bound}</text>");
            }
        }

        for (var s = 0; s < s_series.Length; s++)
        {
            var x = Left + (s * 160);
            var y = Height - 24;
            svg.AppendLine(CultureInfo.InvariantCulture, $"<rect x=\"{x}\" y=\"{y - 10}\" width=\"12\" height=\"12\" fill=\"{s_series[s].Color}\"/>");
            svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{x + 18}\" y=\"{y}\">{s_series[s].Label}</text>");
        }

        svg.AppendLine("</svg>");
        return svg.ToString();
    }

    private static double? Ratio(JsonNode? row, string mode)
    {
        if (row?[mode] is null || row["bare"] is null)
        {
            return null;
        }

        var bare = row["bare"]!.GetValue<double>();
        return bare == 0 ? null : row[mode]!.GetValue<double>() / bare;
    }

    private static string Escape(string text) => WebUtility.HtmlEncode(text);
}

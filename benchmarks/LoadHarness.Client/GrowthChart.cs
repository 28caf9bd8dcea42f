// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace LoadHarness.Client;

/// <summary>The growth curve as SVG: one line chart per figure (x: open connections), one line per server.</summary>
internal static class GrowthChart
{
    private const int PanelWidth = 460;
    private const int PanelHeight = 240;
    private const int Columns = 2;
    private const int Left = 60;
    private const int Top = 64;

    private static readonly Dictionary<string, string> s_colors = new(StringComparer.Ordinal)
    {
        ["bare"] = "#9e9e9e",
        ["barequeued"] = "#6d4c41",
        ["signalr"] = "#e57373",
        ["pool"] = "#1e88e5",
    };

    public static string Render(JsonObject growth, JsonObject document)
    {
        var fields = GrowthReport.Fields;
        var rows = growth["rows"]!.AsArray().Select(r => r!.AsObject()).ToList();
        var modes = growth["modes"]!.AsArray().Select(m => (string)m!).ToList();
        var panelRows = (fields.Length + Columns - 1) / Columns;
        var width = (Columns * PanelWidth) + 40;
        var height = Top + (panelRows * PanelHeight) + 50;
        var xMax = Math.Max(1, rows.Select(r => (int)r["held"]!).DefaultIfEmpty(1).Max());
        var svg = new StringBuilder();
        svg.AppendLine(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">");
        svg.AppendLine(CultureInfo.InvariantCulture, $"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>");
        svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{Left}\" y=\"22\" font-size=\"16\" font-weight=\"bold\">Growth curve: as open connections grow (median of rounds)</text>");
        svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{Left}\" y=\"40\" fill=\"#555\">{Escape($"{document["machine"]?["cpuModel"]}, {document["machine"]?["nproc"]} cores; {document["date"]}; commit {document["commit"]}; {document["mode"]} mode; noisy points hollow")}</text>");
        for (var f = 0; f < fields.Length; f++)
        {
            var (field, heading, _) = fields[f];
            var ox = 20 + ((f % Columns) * PanelWidth);
            var oy = Top + ((f / Columns) * PanelHeight);
            var plotW = PanelWidth - Left - 20;
            var plotH = PanelHeight - 70;
            var px0 = ox + Left;
            var py0 = oy + 20;
            var yMax = rows.Select(r => (double?)r[field]?["median"]).Where(v => v is not null).Select(v => v!.Value).DefaultIfEmpty(1).Max() * 1.15;
            yMax = NiceCeiling(yMax <= 0 ? 1 : yMax);
            svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{px0}\" y=\"{oy + 12}\" font-weight=\"bold\">{Escape(heading)}</text>");
            for (var t = 0; t <= 4; t++)
            {
                var y = py0 + plotH - (t / 4.0 * plotH);
                svg.AppendLine(CultureInfo.InvariantCulture, $"<line x1=\"{px0}\" y1=\"{y:F1}\" x2=\"{px0 + plotW}\" y2=\"{y:F1}\" stroke=\"{(t == 0 ? "#333" : "#e0e0e0")}\"/>");
                svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{px0 - 6}\" y=\"{y + 4:F1}\" text-anchor=\"end\">{yMax * t / 4:0.##}</text>");
            }

            foreach (var step in rows.Select(r => (int)r["target"]!).Distinct().Order())
            {
                var x = px0 + (step / (double)xMax * plotW);
                svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{x:F1}\" y=\"{py0 + plotH + 16}\" text-anchor=\"middle\">{step:N0}</text>");
            }

            svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{px0 + (plotW / 2)}\" y=\"{py0 + plotH + 32}\" text-anchor=\"middle\" fill=\"#555\">open connections</text>");
            foreach (var mode in modes)
            {
                var points = rows.Where(r => (string?)r["mode"] == mode && r[field] is not null)
                    .Select(r => (X: px0 + ((int)r["held"]! / (double)xMax * plotW), Y: py0 + plotH - ((double)r[field]!["median"]! / yMax * plotH), Noisy: (bool?)r["noisy"] == true))
                    .ToList();
                if (points.Count == 0)
                {
                    continue;
                }

                var color = s_colors.GetValueOrDefault(mode, "#000");
                svg.AppendLine(CultureInfo.InvariantCulture, $"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{string.Join(' ', points.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.X:F1},{p.Y:F1}")))}\"/>");
                foreach (var (x, y, noisy) in points)
                {
                    svg.AppendLine(CultureInfo.InvariantCulture, $"<circle cx=\"{x:F1}\" cy=\"{y:F1}\" r=\"3.5\" fill=\"{(noisy ? "white" : color)}\" stroke=\"{color}\" stroke-width=\"1.5\"/>");
                }
            }
        }

        for (var m = 0; m < modes.Count; m++)
        {
            var x = Left + (m * 170);
            var y = height - 18;
            svg.AppendLine(CultureInfo.InvariantCulture, $"<rect x=\"{x}\" y=\"{y - 10}\" width=\"12\" height=\"12\" fill=\"{s_colors.GetValueOrDefault(modes[m], "#000")}\"/>");
            svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{x + 18}\" y=\"{y}\">{Escape(GrowthReport.Label(modes[m]))}</text>");
        }

        svg.AppendLine("</svg>");
        return svg.ToString();
    }

    /// <summary>The smallest of 1, 2, 2.5, 5 or 10 × a power of ten at or above <paramref name="value"/>, so the axis reads in round steps.</summary>
    private static double NiceCeiling(double value)
    {
        var power = Math.Pow(10, Math.Floor(Math.Log10(value)));
        foreach (var step in new[] { 1, 2, 2.5, 5, 10 })
        {
            if (step * power >= value)
            {
                return step * power;
            }
        }

        return 10 * power;
    }

    private static string Escape(string text) => WebUtility.HtmlEncode(text);
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace LoadHarness.Client;

/// <summary>Replaces what stands between two marker comments of benchmarks/README.md with a report.</summary>
internal static class ReadmeSection
{
    /// <summary>
    /// Writes <paramref name="markdown"/> (a report written for results/) between the markers. The README sits one
    /// folder above results/, so <paramref name="chart"/> is pointed there, and the report's headings are demoted under
    /// <paramref name="title"/>, which replaces the report's own title <paramref name="reportTitle"/>. A README without
    /// the markers is left as it is.
    /// </summary>
    public static void Replace(string readme, string start, string end, string markdown, string chart, string reportTitle, string title)
    {
        var text = File.ReadAllText(readme);
        var from = text.IndexOf(start, StringComparison.Ordinal);
        var to = text.IndexOf(end, StringComparison.Ordinal);
        if (from < 0 || to < from)
        {
            return;
        }

        var body = markdown.Replace($"]({chart})", $"](results/{chart})", StringComparison.Ordinal)
            .Replace("\n### ", "\n##### ", StringComparison.Ordinal)
            .Replace("\n## ", "\n#### ", StringComparison.Ordinal)
            .Replace(reportTitle, title, StringComparison.Ordinal);
        File.WriteAllText(readme, text[..(from + start.Length)] + "\n" + body + text[to..]);
    }
}

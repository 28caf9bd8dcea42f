// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Globalization;

namespace WebSocketPool.BrowserTests.Infrastructure;

/// <summary>Reads samples from a Prometheus text exposition (<c>name{labels} value [timestamp]</c>).</summary>
public static class PrometheusText
{
    /// <summary>
    /// The value of the first sample named <paramref name="name"/> whose labels contain every one of
    /// <paramref name="labels"/> (each written <c>key="value"</c>), or <see langword="null"/> when there is none.
    /// </summary>
    public static double? Value(string exposition, string name, params string[] labels)
    {
        foreach (var line in exposition.Split('\n'))
        {
            if (line.StartsWith('#') || !(line.StartsWith(name + "{", StringComparison.Ordinal) || line.StartsWith(name + " ", StringComparison.Ordinal)))
            {
                continue;
            }

            var end = line.IndexOf('}', StringComparison.Ordinal);
            var labelText = end < 0 ? string.Empty : line[..end];
            if (!labels.All(l => labelText.Contains(l, StringComparison.Ordinal)))
            {
                continue;
            }

            var rest = (end < 0 ? line[name.Length..] : line[(end + 1)..]).Trim().Split(' ');
            return double.Parse(rest[0], CultureInfo.InvariantCulture);
        }

        return null;
    }

    /// <summary>Whether any sample's name starts with <paramref name="prefix"/>.</summary>
    public static bool HasSampleStartingWith(string exposition, string prefix) =>
        exposition.Split('\n').Any(l => !l.StartsWith('#') && l.StartsWith(prefix, StringComparison.Ordinal));
}

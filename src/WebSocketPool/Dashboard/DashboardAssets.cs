// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Text;

namespace WebSocketPool.Internal;

/// <summary>
/// The dashboard's page, script and style, embedded in the package (Dashboard/Assets): no CDN, no external script, no
/// build step. Read once.
/// </summary>
internal static class DashboardAssets
{
    private const string Prefix = "WebSocketPool.Dashboard.";

    public static string Page { get; } = Encoding.UTF8.GetString(Read("index.html"));

    public static byte[] Script { get; } = Read("dashboard.js");

    public static byte[] Style { get; } = Read("dashboard.css");

    public static byte[] Icon { get; } = Read("icon.svg");

    private static byte[] Read(string name)
    {
        using var stream = typeof(DashboardAssets).Assembly.GetManifestResourceStream(Prefix + name)
            ?? throw new InvalidOperationException($"The dashboard asset '{name}' is missing from the assembly.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}

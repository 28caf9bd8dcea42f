// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Configuration;

namespace WebSocketPool.Internal;

/// <summary>
/// Binds <see cref="WebSocketPoolOptions"/> from a configuration section, an unknown key being an error, and also takes
/// the list options (<see cref="WebSocketPoolOptions.AllowedOrigins"/>, <see cref="WebSocketPoolOptions.SubProtocols"/>)
/// as one comma-separated value (<c>--WebSocketPool:AllowedOrigins=https://a.example,https://b.example</c>, or an
/// environment variable), which the binder would refuse because the options are lists.
/// </summary>
internal static class WebSocketPoolOptionsBinding
{
    private static readonly string[] s_listOptions = [nameof(WebSocketPoolOptions.AllowedOrigins), nameof(WebSocketPoolOptions.SubProtocols)];

    /// <summary>
    /// Binds a pool's section. The shared section (<paramref name="sharedSection"/>) may hold the named pools'
    /// subsections under <see cref="WebSocketPoolOptions.PoolsSectionName"/>, which are theirs, not options of this pool.
    /// </summary>
    public static void Bind(WebSocketPoolOptions options, IConfiguration section, bool sharedSection = false)
    {
        var scalars = s_listOptions
            .Select(name => (Name: name, Value: section[name]))
            .Where(static option => !string.IsNullOrEmpty(option.Value))
            .ToList();
        var pools = sharedSection && section.GetSection(WebSocketPoolOptions.PoolsSectionName).GetChildren().Any();
        if (scalars.Count > 0 || pools)
        {
            // The same section without the scalar values (and the pools), so that the binder still checks every other key.
            section = new ConfigurationBuilder()
                .AddInMemoryCollection(section.AsEnumerable(makePathsRelative: true)
                    .Where(p => p.Key.Length > 0
                        && !scalars.Exists(s => s.Name == p.Key)
                        && !(pools && IsPoolsKey(p.Key))))
                .Build();
        }

        section.Bind(options, static binder => binder.ErrorOnUnknownConfiguration = true);
        foreach (var (name, value) in scalars)
        {
            var list = name == nameof(WebSocketPoolOptions.AllowedOrigins) ? options.AllowedOrigins : options.SubProtocols;
            foreach (var item in value!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                if (!list.Contains(item))
                {
                    list.Add(item);
                }
            }
        }
    }

    private static bool IsPoolsKey(string key) =>
        key.StartsWith(WebSocketPoolOptions.PoolsSectionName, StringComparison.OrdinalIgnoreCase)
        && (key.Length == WebSocketPoolOptions.PoolsSectionName.Length || key[WebSocketPoolOptions.PoolsSectionName.Length] == ':');
}

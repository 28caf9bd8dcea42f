// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Configuration;

namespace WebSocketPool.Internal;

/// <summary>
/// Binds <see cref="WebSocketPoolOptions"/> from a configuration section, an unknown key being an error, and also takes
/// <see cref="WebSocketPoolOptions.AllowedOrigins"/> as one comma-separated value
/// (<c>--WebSocketPool:AllowedOrigins=https://a.example,https://b.example</c>, or an environment variable), which the
/// binder would refuse because the option is a list.
/// </summary>
internal static class WebSocketPoolOptionsBinding
{
    /// <summary>
    /// Binds a pool's section. The shared section (<paramref name="sharedSection"/>) may hold the named pools'
    /// subsections under <see cref="WebSocketPoolOptions.PoolsSectionName"/>, which are theirs, not options of this pool.
    /// </summary>
    public static void Bind(WebSocketPoolOptions options, IConfiguration section, bool sharedSection = false)
    {
        var origins = section[nameof(WebSocketPoolOptions.AllowedOrigins)];
        var pools = sharedSection && section.GetSection(WebSocketPoolOptions.PoolsSectionName).GetChildren().Any();
        if (!string.IsNullOrEmpty(origins) || pools)
        {
            // The same section without the scalar value (and the pools), so that the binder still checks every other key.
            section = new ConfigurationBuilder()
                .AddInMemoryCollection(section.AsEnumerable(makePathsRelative: true)
                    .Where(p => p.Key.Length > 0
                        && (string.IsNullOrEmpty(origins) || p.Key != nameof(WebSocketPoolOptions.AllowedOrigins))
                        && !(pools && IsPoolsKey(p.Key))))
                .Build();
        }

        section.Bind(options, static binder => binder.ErrorOnUnknownConfiguration = true);
        if (string.IsNullOrEmpty(origins))
        {
            return;
        }

        foreach (var origin in origins.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!options.AllowedOrigins.Contains(origin))
            {
                options.AllowedOrigins.Add(origin);
            }
        }
    }

    private static bool IsPoolsKey(string key) =>
        key.StartsWith(WebSocketPoolOptions.PoolsSectionName, StringComparison.OrdinalIgnoreCase)
        && (key.Length == WebSocketPoolOptions.PoolsSectionName.Length || key[WebSocketPoolOptions.PoolsSectionName.Length] == ':');
}

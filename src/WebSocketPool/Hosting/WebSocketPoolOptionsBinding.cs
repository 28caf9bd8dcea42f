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
    public static void Bind(WebSocketPoolOptions options, IConfiguration section)
    {
        var origins = section[nameof(WebSocketPoolOptions.AllowedOrigins)];
        if (!string.IsNullOrEmpty(origins))
        {
            // The same section without the scalar value, so that the binder still checks every other key.
            section = new ConfigurationBuilder()
                .AddInMemoryCollection(section.AsEnumerable(makePathsRelative: true)
                    .Where(static p => p.Key.Length > 0 && p.Key != nameof(WebSocketPoolOptions.AllowedOrigins)))
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
}

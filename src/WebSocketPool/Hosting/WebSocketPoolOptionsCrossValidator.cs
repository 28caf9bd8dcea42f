// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Options;

namespace WebSocketPool.Internal;

/// <summary>Checks the rules of <see cref="WebSocketPoolOptions"/> that span several properties.</summary>
internal sealed class WebSocketPoolOptionsCrossValidator : IValidateOptions<WebSocketPoolOptions>
{
    public ValidateOptionsResult Validate(string? name, WebSocketPoolOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var builder = new ValidateOptionsResultBuilder();
        if (options.MaxConnectionsPerUser > options.MaxConnections)
        {
            builder.AddError(
                $"MaxConnectionsPerUser ({options.MaxConnectionsPerUser}) may not exceed MaxConnections ({options.MaxConnections}).",
                nameof(options.MaxConnectionsPerUser));
        }

        if (options.MaxConnectionsPerIP > options.MaxConnections)
        {
            builder.AddError(
                $"MaxConnectionsPerIP ({options.MaxConnectionsPerIP}) may not exceed MaxConnections ({options.MaxConnections}); 0 turns the per-IP limit off.",
                nameof(options.MaxConnectionsPerIP));
        }

        foreach (var origin in options.AllowedOrigins)
        {
            if (origin != "*" && !OriginPolicy.TryParse(origin, out _))
            {
                builder.AddError(
                    $"AllowedOrigins entry '{origin}' must be '*' or an http or https origin such as 'https://example.com' or 'http://localhost:5000': scheme, host and optional port, without a path, query or user.",
                    nameof(options.AllowedOrigins));
            }
        }

        if (options.Path.Contains('?', StringComparison.Ordinal) || options.Path.Contains('#', StringComparison.Ordinal))
        {
            builder.AddError("Path must be a plain path without a query or fragment.", nameof(options.Path));
        }

        return builder.Build();
    }
}

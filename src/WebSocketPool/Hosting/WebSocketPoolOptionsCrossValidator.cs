// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Reflection;
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

        AddSubProtocolErrors(builder, options);
        AddParsedTimeSpans(builder, options);
        AddResumeErrors(builder, options.Resume);

        if (options.Path.Contains('?', StringComparison.Ordinal) || options.Path.Contains('#', StringComparison.Ordinal))
        {
            builder.AddError("Path must be a plain path without a query or fragment.", nameof(options.Path));
        }

        return builder.Build();
    }

    /// <summary>Each subprotocol a token (RFC 6455 §4.1), listed once; a requirement needs something to require.</summary>
    private static void AddSubProtocolErrors(ValidateOptionsResultBuilder builder, WebSocketPoolOptions options)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < options.SubProtocols.Count; i++)
        {
            var name = options.SubProtocols[i];
            if (!SubProtocolSelector.IsToken(name))
            {
                builder.AddError(
                    name is null
                        ? $"SubProtocols[{i}] is null; a subprotocol is a non-empty token such as 'chat.v2'."
                        : $"SubProtocols[{i}] ('{name}') is not a valid subprotocol name: a non-empty token of letters, digits and !#$%&'*+-.^_`|~ (RFC 6455 §4.1), such as 'chat.v2'.",
                    nameof(options.SubProtocols));
            }
            else if (name.StartsWith(ResumeProtocol.Name, StringComparison.Ordinal))
            {
                builder.AddError(
                    $"SubProtocols[{i}] ('{name}') is reserved: the resume protocol is turned on with Resume.Enabled and composed with the pool's own subprotocols.",
                    nameof(options.SubProtocols));
            }
            else if (!seen.Add(name))
            {
                builder.AddError($"SubProtocols lists '{name}' more than once.", nameof(options.SubProtocols));
            }
        }

        if (options.RequireSubProtocol && options.SubProtocols.Count == 0)
        {
            builder.AddError("RequireSubProtocol needs at least one entry in SubProtocols.", nameof(options.RequireSubProtocol));
        }
    }

    /// <summary>
    /// The generated validator says a duration is out of range but not what it read. A bare number binds as days
    /// (<c>KeepAliveInterval=15</c> is 15 days), so say the parsed value and how to write seconds.
    /// </summary>
    private static void AddParsedTimeSpans(ValidateOptionsResultBuilder builder, WebSocketPoolOptions options)
    {
        foreach (var property in typeof(WebSocketPoolOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.PropertyType != typeof(TimeSpan) || property.GetCustomAttribute<RangeAttribute>() is not { } range)
            {
                continue;
            }

            var value = (TimeSpan)property.GetValue(options)!;
            if (range.IsValid(value))
            {
                continue;
            }

            builder.AddError(
                string.Create(CultureInfo.InvariantCulture,
                    $"{property.Name} was read as {value:c} ({Describe(value)}), outside {range.Minimum}–{range.Maximum}. Durations are written [d.]hh:mm:ss: a bare number counts days, so 15 seconds is 00:00:15."),
                property.Name);
        }
    }

    /// <summary>The resume window, read the same way as the other durations (a bare number counts days).</summary>
    private static void AddResumeErrors(ValidateOptionsResultBuilder builder, WebSocketResumeOptions resume)
    {
        var range = typeof(WebSocketResumeOptions).GetProperty(nameof(WebSocketResumeOptions.Window))!.GetCustomAttribute<RangeAttribute>()!;
        if (!range.IsValid(resume.Window))
        {
            builder.AddError(
                string.Create(CultureInfo.InvariantCulture,
                    $"Resume.Window was read as {resume.Window:c} ({Describe(resume.Window)}), outside {range.Minimum}–{range.Maximum}. Durations are written [d.]hh:mm:ss: a bare number counts days, so 2 minutes is 00:02:00."),
                "Resume.Window");
        }
    }

    private static string Describe(TimeSpan value) => value.TotalDays >= 1
        ? string.Create(CultureInfo.InvariantCulture, $"{value.TotalDays:0.##} days")
        : string.Create(CultureInfo.InvariantCulture, $"{value.TotalSeconds:0.###} seconds");
}

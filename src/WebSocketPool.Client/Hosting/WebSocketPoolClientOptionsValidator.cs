// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Options;

namespace WebSocketPool.Client.Internal;

/// <summary>Checks <see cref="WebSocketPoolClientOptions"/>; each failure names the option and its allowed range.</summary>
internal sealed class WebSocketPoolClientOptionsValidator : IValidateOptions<WebSocketPoolClientOptions>
{
    public static readonly WebSocketPoolClientOptionsValidator Instance = new();

    public ValidateOptionsResult Validate(string? name, WebSocketPoolClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var builder = new ValidateOptionsResultBuilder();
        if (options.Uri is not { } uri)
        {
            builder.AddError("must be set to the server's ws:// or wss:// address.", nameof(options.Uri));
        }
        else if (!uri.IsAbsoluteUri || (uri.Scheme != "ws" && uri.Scheme != "wss"))
        {
            builder.AddError($"must be an absolute ws:// or wss:// address; '{uri}' is not.", nameof(options.Uri));
        }

        for (var i = 0; i < options.SubProtocols.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(options.SubProtocols[i]))
            {
                builder.AddError("must not contain empty entries.", nameof(options.SubProtocols));
                break;
            }
        }

        Range(builder, nameof(options.ReconnectBaseDelay), options.ReconnectBaseDelay, TimeSpan.FromMilliseconds(1), TimeSpan.FromHours(1));
        Range(builder, nameof(options.ReconnectMaxDelay), options.ReconnectMaxDelay, TimeSpan.FromMilliseconds(1), TimeSpan.FromDays(1));
        if (options.ReconnectMaxDelay < options.ReconnectBaseDelay)
        {
            builder.AddError($"must be at least ReconnectBaseDelay ({options.ReconnectBaseDelay}); it is {options.ReconnectMaxDelay}.", nameof(options.ReconnectMaxDelay));
        }

        Range(builder, nameof(options.PromptReconnectMaxDelay), options.PromptReconnectMaxDelay, TimeSpan.Zero, TimeSpan.FromMinutes(1));
        if (options.MaxReconnectAttempts is < 0)
        {
            builder.AddError($"must be 0 or more, or null for no limit; it is {options.MaxReconnectAttempts}.", nameof(options.MaxReconnectAttempts));
        }

        Range(builder, nameof(options.SendQueueCapacity), options.SendQueueCapacity, 1, 1_000_000);
        Range(builder, nameof(options.SendQueueMaxBytes), options.SendQueueMaxBytes, 1, 1L << 30);
        Range(builder, nameof(options.ReceiveQueueCapacity), options.ReceiveQueueCapacity, 1, 1_000_000);
        Range(builder, nameof(options.MaxReceiveMessageBytes), options.MaxReceiveMessageBytes, 1, 1 << 30);
        Range(builder, nameof(options.KeepAliveInterval), options.KeepAliveInterval, TimeSpan.Zero, TimeSpan.FromHours(1));
        if (options.KeepAliveTimeout != Timeout.InfiniteTimeSpan)
        {
            Range(builder, nameof(options.KeepAliveTimeout), options.KeepAliveTimeout, TimeSpan.FromSeconds(1), TimeSpan.FromHours(1));
        }

        Range(builder, nameof(options.ConnectTimeout), options.ConnectTimeout, TimeSpan.FromMilliseconds(1), TimeSpan.FromMinutes(10));
        Range(builder, nameof(options.CloseTimeout), options.CloseTimeout, TimeSpan.Zero, TimeSpan.FromMinutes(10));
        return builder.Build();
    }

    private static void Range<T>(ValidateOptionsResultBuilder builder, string option, T value, T min, T max)
        where T : IComparable<T>
    {
        if (value.CompareTo(min) < 0 || value.CompareTo(max) > 0)
        {
            builder.AddError($"must be between {min} and {max}; it is {value}.", option);
        }
    }
}

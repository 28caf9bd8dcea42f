// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace WebSocketPool.Redis.Internal;

/// <summary>Rules spanning several options, or the options and how <c>AddRedis</c> was called.</summary>
internal sealed class RedisWebSocketPoolOptionsCrossValidator(RedisMultiplexerSource source) : IValidateOptions<RedisWebSocketPoolOptions>
{
    public ValidateOptionsResult Validate(string? name, RedisWebSocketPoolOptions options)
    {
        var builder = new ValidateOptionsResultBuilder();
        if (source.Multiplexer is null)
        {
            if (string.IsNullOrWhiteSpace(options.Configuration))
            {
                builder.AddError("Configuration is required (for example '127.0.0.1:6379') unless an existing IConnectionMultiplexer is passed to AddRedis.", nameof(options.Configuration));
            }
            else
            {
                try
                {
                    ConfigurationOptions.Parse(options.Configuration);
                }
                catch (ArgumentException ex)
                {
                    builder.AddError($"Configuration is not a valid StackExchange.Redis configuration string: {ex.Message}", nameof(options.Configuration));
                }
            }
        }

        if (options.OperationTimeout > options.LeaseTtl / 2)
        {
            builder.AddError($"OperationTimeout ({options.OperationTimeout}) may be at most half of LeaseTtl ({options.LeaseTtl}).", nameof(options.OperationTimeout));
        }

        return builder.Build();
    }
}

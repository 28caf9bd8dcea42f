// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using StackExchange.Redis;

namespace WebSocketPool.Redis.Internal;

/// <summary>The multiplexer the app passed to <c>AddRedis</c>, if any; the scale-out then neither creates nor disposes one.</summary>
internal sealed class RedisMultiplexerSource(IConnectionMultiplexer? multiplexer)
{
    public IConnectionMultiplexer? Multiplexer { get; } = multiplexer;
}

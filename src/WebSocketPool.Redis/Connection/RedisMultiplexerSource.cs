// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using StackExchange.Redis;

namespace WebSocketPool.Redis.Internal;

/// <summary>
/// The multiplexer the app passed to <c>AddRedis</c>, if any; the scale-out then neither creates nor disposes one. A
/// named pool's scale-out borrows the default pool's connection instead (<see cref="Shared"/>): one multiplexer per app.
/// </summary>
internal sealed class RedisMultiplexerSource(IConnectionMultiplexer? multiplexer, RedisConnection? shared = null)
{
    public IConnectionMultiplexer? Multiplexer { get; } = multiplexer;

    /// <summary>Gets the connection whose multiplexer this one uses (connecting it first), neither closing nor disposing it.</summary>
    public RedisConnection? Shared { get; } = shared;
}

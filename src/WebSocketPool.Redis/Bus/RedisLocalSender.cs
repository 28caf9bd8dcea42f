// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Redis.Internal;

/// <summary>The sender that was registered before the scale-out replaced it: it delivers to this node's connections.</summary>
internal sealed class RedisLocalSender(IWebSocketSender inner)
{
    public IWebSocketSender Inner { get; } = inner;
}

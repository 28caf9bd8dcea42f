// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Internal;

/// <summary>The handler used until the app registers one: it accepts connections and ignores their messages.</summary>
internal sealed class NoOpWebSocketHandler : WebSocketHandler
{
}

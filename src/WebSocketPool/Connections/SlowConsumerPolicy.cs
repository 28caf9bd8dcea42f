// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool;

/// <summary>What a connection's outbound queue does when it is full because the peer reads slower than the server writes.</summary>
public enum SlowConsumerPolicy
{
    /// <summary>Close the connection with 4002 and release it; the client may reconnect.</summary>
    Disconnect = 0,

    /// <summary>Drop the oldest queued message to make room, and count the drop.</summary>
    DropOldest = 1,
}

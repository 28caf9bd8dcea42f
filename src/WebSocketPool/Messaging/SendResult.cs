// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool;

/// <summary>The outcome of queueing a message for one connection.</summary>
public enum SendResult
{
    /// <summary>The message was queued and will be written in order.</summary>
    Queued = 0,

    /// <summary>The connection has closed or is closing; nothing was queued.</summary>
    Closed = 1,

    /// <summary>The handle outlived its lease: the manager now serves another connection, which was not touched.</summary>
    StaleHandle = 2,

    /// <summary>No connection with that id exists on this node.</summary>
    NotFound = 3,

    /// <summary>The queue was full and the slow-consumer policy disconnected the connection (4002).</summary>
    SlowConsumerDisconnected = 4,

    /// <summary>The queue was full and the oldest queued message was dropped to make room for this one.</summary>
    QueuedDroppedOldest = 5,
}

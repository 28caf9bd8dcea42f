// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool;

/// <summary>What the pool does when a user who already holds <see cref="WebSocketPoolOptions.MaxConnectionsPerUser"/> connections opens another.</summary>
public enum OverflowPolicy
{
    /// <summary>Refuse the new connection with 429 before the upgrade.</summary>
    Reject = 0,

    /// <summary>Accept the new connection and close one of the user's connections with 4001: the one silent longest, else the oldest.</summary>
    EvictOldest = 1,
}

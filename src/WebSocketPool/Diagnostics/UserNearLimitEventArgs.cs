// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool;

/// <summary>
/// Raised once each time a user's connection count rises to <see cref="WebSocketPoolOptions.AlertThreshold"/> of the
/// per-user limit (not again until it has fallen below it).
/// </summary>
/// <param name="userKey">The user.</param>
/// <param name="connections">The user's connections when the threshold was crossed.</param>
/// <param name="limit">The per-user limit.</param>
public sealed class UserNearLimitEventArgs(string userKey, int connections, int limit) : EventArgs
{
    /// <summary>Gets the user key.</summary>
    public string UserKey { get; } = userKey;

    /// <summary>Gets the user's connections when the threshold was crossed.</summary>
    public int Connections { get; } = connections;

    /// <summary>Gets the per-user limit.</summary>
    public int Limit { get; } = limit;
}

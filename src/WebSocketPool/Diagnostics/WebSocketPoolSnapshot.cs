// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool;

/// <summary>A point-in-time view of the pool, as served by the samples' <c>/stats</c>.</summary>
public sealed class WebSocketPoolSnapshot
{
    /// <summary>Gets the connections counted against the limits (open sockets plus handshakes in progress).</summary>
    public required int ActiveConnections { get; init; }

    /// <summary>Gets the node's connection cap.</summary>
    public required int MaxConnections { get; init; }

    /// <summary>Gets the number of users holding at least one connection.</summary>
    public required int UserCount { get; init; }

    /// <summary>Gets a value indicating whether the node is shutting down and refusing new connections.</summary>
    public required bool Draining { get; init; }

    /// <summary>Gets the top users by connections, most first.</summary>
    public required IReadOnlyList<UserConnectionCount> Users { get; init; }

    /// <summary>Gets the refusals since start, by reason (see <see cref="RejectionReasons"/>).</summary>
    public required IReadOnlyDictionary<string, long> Rejected { get; init; }

    /// <summary>Gets the connections evicted since start.</summary>
    public required long Evicted { get; init; }

    /// <summary>Gets the reset managers waiting in the shared pool.</summary>
    public required int PooledManagers { get; init; }

    /// <summary>Gets the freed managers kept warm for their users.</summary>
    public required int WarmManagers { get; init; }
}

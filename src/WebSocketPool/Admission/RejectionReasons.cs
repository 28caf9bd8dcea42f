// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool;

/// <summary>
/// Why a WebSocket request was refused before the upgrade. The values are the metric's reason tags and the keys of
/// the snapshot's <see cref="WebSocketPoolSnapshot.Rejected"/> counts.
/// </summary>
public static class RejectionReasons
{
    /// <summary>The user already holds <see cref="WebSocketPoolOptions.MaxConnectionsPerUser"/> connections (429).</summary>
    public const string UserLimit = "user_limit";

    /// <summary>The node holds <see cref="WebSocketPoolOptions.MaxConnections"/> connections (503).</summary>
    public const string GlobalLimit = "global_limit";

    /// <summary>The server is shutting down (503).</summary>
    public const string Draining = "draining";

    /// <summary>The Origin header is not allowed (403).</summary>
    public const string Origin = "origin";

    /// <summary>The request has no user and anonymous connections are not allowed (401).</summary>
    public const string Unauthenticated = "unauthenticated";

    /// <summary>
    /// The client offered WebSocket subprotocols of which the pool speaks none, or offered none where the pool requires
    /// one (<see cref="WebSocketPoolOptions.SubProtocols"/>, <see cref="WebSocketPoolOptions.RequireSubProtocol"/>) (400).
    /// </summary>
    public const string SubProtocol = "subprotocol";

    /// <summary>The client's IP address (or IPv6 network) exceeded <see cref="WebSocketPoolOptions.ConnectRateLimitPerIP"/> (429).</summary>
    public const string IPRateLimited = "ip_rate_limited";

    /// <summary>The client's IP address (or IPv6 network) already holds <see cref="WebSocketPoolOptions.MaxConnectionsPerIP"/> connections (429).</summary>
    public const string IPLimit = "ip_limit";

    /// <summary>The user exceeded <see cref="WebSocketPoolOptions.ConnectRateLimit"/> (429).</summary>
    public const string RateLimited = "rate_limited";

    /// <summary>
    /// The cluster's shared state (Redis) could not be reached and its failure policy is to refuse (503). Only an
    /// <see cref="IWebSocketAdmissionGate"/> gives this reason.
    /// </summary>
    public const string ClusterUnavailable = "cluster_unavailable";

    /// <summary>All reasons, in admission order.</summary>
    public static IReadOnlyList<string> All { get; } =
        [Draining, Origin, Unauthenticated, SubProtocol, IPRateLimited, IPLimit, RateLimited, GlobalLimit, UserLimit, ClusterUnavailable];
}

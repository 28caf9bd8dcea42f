// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Runtime.CompilerServices;

namespace WebSocketPool;

/// <summary>
/// The pool's answer to a connection attempt, decided before the upgrade. When <see cref="IsAdmitted"/> is true and
/// the admission came from <see cref="PooledWebSocketManagerFactory.TryAdmit(string, System.Net.IPAddress?)"/>, a slot is reserved and must be
/// either used for the accepted socket or given back with <see cref="PooledWebSocketManagerFactory.Abandon"/>.
/// </summary>
internal readonly struct WebSocketAdmission
{
    // Inlined, the fields are written where the caller keeps the admission: a call wrote them one by one into a temporary
    // that the caller then read back in wide loads, which stall on the narrow stores still in flight.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal WebSocketAdmission(string? rejectionReason, int statusCode, int limit, int current, TimeSpan? retryAfter,
        IsolatedWebSocketManager? manager = null, long generation = 0)
    {
        RejectionReason = rejectionReason;
        StatusCode = statusCode;
        Limit = limit;
        Current = current;
        RetryAfter = retryAfter;
        Manager = manager;
        Generation = generation;
    }

    /// <summary>Gets a value indicating whether the attempt is (or would be) admitted.</summary>
    public bool IsAdmitted => RejectionReason is null;

    /// <summary>Gets the reason for a refusal (one of <see cref="RejectionReasons"/>), or <see langword="null"/> when admitted.</summary>
    public string? RejectionReason { get; }

    /// <summary>Gets the HTTP status of the answer: 101 when admitted, else 401, 403, 429 or 503.</summary>
    public int StatusCode { get; }

    /// <summary>
    /// Gets the limit that applies: the per-user limit, the global one for a <c>global_limit</c> refusal, or the per-IP
    /// one (<see cref="WebSocketPoolOptions.MaxConnectionsPerIP"/>, 0 when off) for <c>ip_limit</c> and <c>ip_rate_limited</c>.
    /// </summary>
    public int Limit { get; }

    /// <summary>Gets the count the limit was checked against (the user's connections, the node's, or the client address's).</summary>
    public int Current { get; }

    /// <summary>Gets how long the client should wait before retrying, or <see langword="null"/> when retrying makes no sense.</summary>
    public TimeSpan? RetryAfter { get; }

    internal IsolatedWebSocketManager? Manager { get; }

    internal long Generation { get; }
}

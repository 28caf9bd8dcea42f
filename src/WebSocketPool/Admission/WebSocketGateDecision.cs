// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool;

/// <summary>The answer of an <see cref="IWebSocketAdmissionGate"/>: admit, or refuse with a reason, a limit and a count.</summary>
public readonly struct WebSocketGateDecision
{
    private WebSocketGateDecision(string? rejectionReason, int? limit, int? current, TimeSpan? retryAfter, string? evictConnectionId = null)
    {
        RejectionReason = rejectionReason;
        Limit = limit;
        Current = current;
        RetryAfter = retryAfter;
        EvictConnectionId = evictConnectionId;
    }

    /// <summary>Gets a value indicating whether the connection is admitted.</summary>
    public bool IsAdmitted => RejectionReason is null;

    /// <summary>Gets the refusal's reason (one of <see cref="RejectionReasons"/>), or <see langword="null"/> when admitted.</summary>
    public string? RejectionReason { get; }

    /// <summary>Gets the limit that applied, when the gate knows it.</summary>
    public int? Limit { get; }

    /// <summary>Gets the count the limit was checked against (for example the user's connections across a cluster), when known.</summary>
    public int? Current { get; }

    /// <summary>Gets how long the client should wait before retrying a refused connection.</summary>
    public TimeSpan? RetryAfter { get; }

    /// <summary>
    /// Gets the id of a connection the admitted one replaces (the gate's EvictOldest), or <see langword="null"/>. The
    /// pool calls <see cref="IWebSocketAdmissionGate.EvictAsync"/> with it once the new socket has been accepted, and
    /// never when the handshake failed.
    /// </summary>
    public string? EvictConnectionId { get; }

    /// <summary>Admits the connection.</summary>
    /// <param name="current">The user's connections as the gate counts them (including this one for an admission), when known.</param>
    /// <returns>The decision.</returns>
    public static WebSocketGateDecision Admit(int? current = null) => new(null, null, current, null);

    /// <summary>Admits the connection in place of another one, which is evicted once the new socket has been accepted.</summary>
    /// <param name="current">The user's connections as the gate counts them (including this one), when known.</param>
    /// <param name="evictConnectionId">The id of the connection to evict (4001) once this one is accepted.</param>
    /// <returns>The decision.</returns>
    public static WebSocketGateDecision AdmitReplacing(int? current, string evictConnectionId)
    {
        ArgumentException.ThrowIfNullOrEmpty(evictConnectionId);
        return new(null, null, current, null, evictConnectionId);
    }

    /// <summary>Refuses the connection.</summary>
    /// <param name="reason">One of <see cref="RejectionReasons"/>; it sets the HTTP status (429 for limits, 503 when unavailable).</param>
    /// <param name="limit">The limit that applied.</param>
    /// <param name="current">The count it was checked against.</param>
    /// <param name="retryAfter">How long the client should wait before retrying.</param>
    /// <returns>The decision.</returns>
    public static WebSocketGateDecision Refuse(string reason, int limit, int current, TimeSpan? retryAfter)
    {
        ArgumentException.ThrowIfNullOrEmpty(reason);
        if (!RejectionReasons.All.Contains(reason))
        {
            throw new ArgumentException($"Unknown rejection reason '{reason}'.", nameof(reason));
        }

        return new(reason, limit, current, retryAfter);
    }
}

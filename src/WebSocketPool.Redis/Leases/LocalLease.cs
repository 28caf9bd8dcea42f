// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Redis.Internal;

/// <summary>What this node knows of one of its leases in Redis.</summary>
internal enum LeaseState
{
    /// <summary>The admission script is on its way; it may land in Redis even if its answer never arrives.</summary>
    Admitting,

    /// <summary>Redis holds the lease (admitted, re-admitted or registered).</summary>
    Registered,

    /// <summary>
    /// Redis may not hold it: admitted on node-local limits while Redis could not be asked, or held when this node's
    /// heartbeat lapsed. The next heartbeat re-admits it through the limit check.
    /// </summary>
    Unregistered,
}

/// <summary>One connection admitted by the gate and not yet released.</summary>
internal sealed class LocalLease(string userKey)
{
    public string UserKey { get; } = userKey;

    public volatile LeaseState State;

    /// <summary>True once a script that may write this lease was sent, so that its release must reach Redis.</summary>
    public volatile bool SentToRedis;

    /// <summary>
    /// The connection this one was admitted in place of (EvictOldest), until this one's socket is accepted. Released
    /// before that (the handshake failed), the victim gets its lease back if its node has not closed it yet.
    /// </summary>
    public volatile string? HandedOverFrom;

    /// <summary>
    /// The connection on this node that this one replaces (the node's own EvictOldest pledge), whose lease the admission
    /// handed over. If this one is released while that connection is still open (its handshake failed, the pledge was
    /// withdrawn), that connection is re-admitted at the next heartbeat.
    /// </summary>
    public string? ReplacedLocal { get; init; }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;

namespace WebSocketPool.Internal;

/// <summary>
/// What the pool keeps for one client address (an IPv4 address or an IPv6 network, see <see cref="ClientAddress"/>): the
/// connections counted against <see cref="WebSocketPoolOptions.MaxConnectionsPerIP"/> and the per-IP connect-rate
/// bucket. Guarded by locking the entry itself, always inside a user's lock where both are held. Removed (and marked
/// <see cref="Removed"/> so racing callers retry with a fresh one) as soon as it counts nothing and its bucket is full.
/// </summary>
internal sealed class AddressEntry(IPAddress key)
{
    public IPAddress Key { get; } = key;

    /// <summary>
    /// Leases holding a place of this address: from admission until the socket has ended, like the node's count (a
    /// kicked or evicted socket still holds a descriptor while it closes).
    /// </summary>
    public int Count;

    public TokenBucket ConnectBucket;

    public bool Removed;
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Internal;

/// <summary>
/// Everything the pool keeps for one user: the counted slots, the user's live managers, the warm managers kept for
/// reuse and the rate-limit buckets. Guarded by locking the entry itself. An entry is removed (and marked
/// <see cref="Removed"/> so racing callers retry with a fresh one) as soon as it holds nothing.
/// </summary>
internal sealed class UserEntry(string userKey)
{
    public string UserKey { get; } = userKey;

    /// <summary>Slots counted against the per-user limit: reserved handshakes plus open connections.</summary>
    public int Count;

    /// <summary>Managers leased to this user whose sockets have not ended yet (may briefly exceed Count after a kick or eviction).</summary>
    public readonly List<IsolatedWebSocketManager> Active = new(2);

    /// <summary>
    /// Freed managers kept warm for this user, newest last; made on the first return (a user who stays connected never
    /// needs one). Under the entry's lock.
    /// </summary>
    public List<IsolatedWebSocketManager>? Warm;

    /// <summary>Gets how many managers are kept warm for this user (under the entry's lock).</summary>
    public int WarmCount => Warm?.Count ?? 0;

    /// <summary>
    /// The connection number this user's last lease took. Numbers are handed to a user in aligned blocks from the node's
    /// counter (<c>ManagerLeases.NextNumber</c>): a multiple of the block size here means the block is used up. So a
    /// lease takes its number under the entry's lock with no shared write. Unique on the node; increasing within a user.
    /// </summary>
    public long LastNumber;

    public TokenBucket ConnectBucket;

    public TokenBucket MessageBucket;

    public bool NearLimit;

    /// <summary>
    /// 1 when the user keeps a place in the node's count for its next lease (<c>UserTable.TryTakeNodePlace</c>): counted
    /// in the node's count, held by no lease. Written only under the entry's lock (also when an admission at the cap takes
    /// it back), so plain reads under the lock; volatile writes, since gauges and the take-back's walk read it without.
    /// </summary>
    public byte KeptNodePlace;

    public bool Removed;

    /// <summary>
    /// Under the entry's lock: takes <paramref name="manager"/> out of <see cref="Active"/>, keeping the others' order. By
    /// reference and from the newest: <c>List.Remove</c> would ask the generic equality comparer about every element.
    /// </summary>
    public void RemoveActive(IsolatedWebSocketManager manager)
    {
        for (var i = Active.Count - 1; i >= 0; i--)
        {
            if (ReferenceEquals(Active[i], manager))
            {
                Active.RemoveAt(i);
                return;
            }
        }
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;

namespace WebSocketPool.Internal;

/// <summary>
/// The per-user entries and the node's count. A user's count changes under that user's lock, and every change of the
/// node's count under some user's lock (a place one user keeps may be taken back under another's), so an audit holding
/// every user's lock sees the node's count stand still. An entry is removed as soon as
/// it holds nothing worth keeping, so memory does not grow with the number of distinct users ever seen.
/// </summary>
/// <remarks>
/// The node's count (<see cref="Taken"/>) is what <see cref="WebSocketPoolOptions.MaxConnections"/> bounds: the places
/// the leases hold, plus at most one place per user kept for that user's next lease (<see cref="UserEntry.KeptNodePlace"/>).
/// A user who reconnects then takes and gives back its place under its own lock, with no write to the node's count,
/// which every core would otherwise write on every lease, and with no atomic operation at all: a kept place is read and
/// written only under its user's lock, also when another admission takes it back. A kept place is counted, so the cap is
/// never exceeded; it is kept only well below the cap, and an admission that finds the cap reached takes the kept places
/// of the other users back (<see cref="TakeBackKeptPlaces"/>, outside its own lock) and decides once more before it
/// refuses. <see cref="Active"/> reports the places the leases hold.
/// </remarks>
internal sealed class UserTable(WebSocketPoolOptions options, TimeProvider timeProvider, SharedUserLimit? shared = null)
{
    private readonly ConcurrentDictionary<string, UserEntry> _users = new(StringComparer.Ordinal);

    // The per-user count at which a user is near its limit (options are fixed once the pool is made).
    private readonly int _nearLimitThreshold = Math.Max(1, (int)Math.Ceiling(options.AlertThreshold * options.MaxConnectionsPerUser));

    // A user keeps a place only while entries outlive their last lease (a reuse window) and the node's count is below
    // this, a sixteenth under the cap: near the cap places go straight back, so a refusal there rarely has any to take back.
    private readonly bool _keepPlaces = options.ReuseWindow > TimeSpan.Zero;
    private readonly long _keepBelow = options.MaxConnections - (options.MaxConnections / 16);

    private int _nearLimitUsers;

    // 1 when a user has kept a place since the last take-back, which clears it first: no refusal at the cap walks the
    // users unless a place may be kept. Written only when it changes.
    private int _keptPlacesMayExist;

    // One take-back at a time: an admission at the cap that arrives while another walks (the flag already cleared, the
    // places not yet all back) waits here for that walk to end instead of refusing.
    private readonly Lock _takeBack = new();

    // Handshakes, open sockets and sockets still closing: what MaxConnections bounds. Every admission and release on
    // every core writes it, so it sits alone on its cache line, away from the fields above that each lease reads.
    private PaddedCounter _active;

    /// <summary>
    /// Gets the places the leases hold in the node's count (handshakes, open sockets, sockets still closing): the count
    /// less the places users keep. Walks the users only while places may be kept (a gauge's reading while leases come
    /// and go; exact at rest).
    /// </summary>
    public int Active
    {
        get
        {
            var taken = Volatile.Read(ref _active.Value);
            if (KeptPlacesMayExist)
            {
                foreach (var (_, entry) in _users)
                {
                    taken -= Volatile.Read(ref entry.KeptNodePlace);
                }
            }

            return (int)Math.Max(0, taken);
        }
    }

    /// <summary>Gets a value indicating whether a user may keep a place: false only when none has since the last take-back.</summary>
    public bool KeptPlacesMayExist => _keepPlaces && Volatile.Read(ref _keptPlacesMayExist) != 0;

    /// <summary>
    /// Gets a value indicating whether users keep places at all (a reuse window is set): then an admission that finds the
    /// cap reached passes through <see cref="TakeBackKeptPlaces"/> before it refuses, even when the flag is clear, since a
    /// take-back may be under way.
    /// </summary>
    public bool KeepsPlaces => _keepPlaces;

    /// <summary>Gets the node's count as the cap sees it: the leases' places and the places users keep.</summary>
    public int Taken => (int)Volatile.Read(ref _active.Value);

    /// <summary>Gets the per-user total this pool shares with the other pools of its limit group, if it is in one.</summary>
    public SharedUserLimit? Shared => shared;

    public int NearLimitUsers => Volatile.Read(ref _nearLimitUsers);

    public int Count => _users.Count;

    /// <summary>Gets the entries; enumerating the dictionary itself takes no lock and copies nothing.</summary>
    public ConcurrentDictionary<string, UserEntry> Entries => _users;

    public UserEntry GetOrAdd(string userKey) => _users.GetOrAdd(userKey, static key => new UserEntry(key));

    public bool TryGet(string userKey, out UserEntry entry) => _users.TryGetValue(userKey, out entry!);

    public int GetConnectionCount(string userKey) => _users.TryGetValue(userKey, out var entry) ? Volatile.Read(ref entry.Count) : 0;

    /// <summary>
    /// Under <paramref name="entry"/>'s lock: whether a new lease of its user would find the node's cap reached. Not when
    /// the user kept a place. At the cap, the places the other users keep may still come back
    /// (<see cref="KeptPlacesMayExist"/>, <see cref="TakeBackKeptPlaces"/>).
    /// </summary>
    public bool AtCap(UserEntry entry) => entry.KeptNodePlace == 0 && Volatile.Read(ref _active.Value) >= options.MaxConnections;

    /// <summary>
    /// Under <paramref name="entry"/>'s lock: takes a place in the node's count for a new lease of its user. The place the
    /// user kept, when it has one (no shared write, no atomic operation: only under its user's lock is a kept place read
    /// or written); else a new one unless the cap is reached.
    /// </summary>
    public bool TryTakeNodePlace(UserEntry entry)
    {
        if (entry.KeptNodePlace != 0)
        {
            Volatile.Write(ref entry.KeptNodePlace, 0);
            return true;
        }

        long max = options.MaxConnections;
        var current = Volatile.Read(ref _active.Value);
        while (current < max)
        {
            var seen = Interlocked.CompareExchange(ref _active.Value, current + 1, current);
            if (seen == current)
            {
                return true;
            }

            current = seen;
        }

        return false;
    }

    /// <summary>
    /// Under <paramref name="entry"/>'s lock: gives back a lease's place in the node's count. The user keeps it for its
    /// next lease (one at most) while the node is well below its cap, else it goes back to the node.
    /// </summary>
    public void GiveBackNodePlace(UserEntry entry)
    {
        if (_keepPlaces && entry.KeptNodePlace == 0 && !entry.Removed && Volatile.Read(ref _active.Value) < _keepBelow)
        {
            // The place, then the flag: see TakeBackKeptPlaces for why a walk cannot miss it.
            Volatile.Write(ref entry.KeptNodePlace, 1);
            if (Volatile.Read(ref _keptPlacesMayExist) == 0)
            {
                Volatile.Write(ref _keptPlacesMayExist, 1);
            }

            return;
        }

        Interlocked.Decrement(ref _active.Value);
    }

    /// <summary>
    /// Holding no user's lock, at the cap: gives the places users keep back to the node, each under its user's lock (one
    /// lock at a time, so no order between them is needed). When it returns, every place kept before it was called is
    /// back, by this walk or by one that was under way (waited for): the caller decides once more.
    /// </summary>
    public void TakeBackKeptPlaces()
    {
        if (!_keepPlaces)
        {
            return;
        }

        // One walk at a time. A walk clears the flag before it has taken the places back, so an admission that reads the
        // flag cleared may not conclude that none is kept until that walk has ended: it waits for the lock, which the walk
        // holds to its end, and walks again only if places were kept since.
        lock (_takeBack)
        {
            if (Volatile.Read(ref _keptPlacesMayExist) == 0)
            {
                return;
            }

            // The flag is cleared before the walk. A keeper writes its place, then reads the flag; the walk clears the flag,
            // then reads the places, with a process-wide barrier between (the rare side pays for both fences): either the
            // walk finds the place, or the keeper sees the flag cleared and sets it again for the next walk. A place seen is
            // taken under its user's lock, where its user could have used it meanwhile: then there is nothing to take.
            Volatile.Write(ref _keptPlacesMayExist, 0);
            Interlocked.MemoryBarrierProcessWide();
            foreach (var (_, entry) in _users)
            {
                if (Volatile.Read(ref entry.KeptNodePlace) == 0)
                {
                    continue;
                }

                lock (entry)
                {
                    if (entry.KeptNodePlace != 0)
                    {
                        Volatile.Write(ref entry.KeptNodePlace, 0);
                        Interlocked.Decrement(ref _active.Value);
                    }
                }
            }
        }
    }

    /// <summary>Sets the node's count to <paramref name="value"/> only if it is still <paramref name="observed"/> (the audit's repair).</summary>
    public bool TryRepairActive(int value, int observed) => Interlocked.CompareExchange(ref _active.Value, value, observed) == observed;

    /// <summary>Test hook: the node's count drifts as a lost release would make it.</summary>
    public void AddToActiveForTesting(int delta) => Interlocked.Add(ref _active.Value, delta);

    /// <summary>Under the entry's lock: removes the entry when it holds nothing worth keeping.</summary>
    public void TryRemove(UserEntry entry)
    {
        if (entry.Count == 0 && entry.Active.Count == 0 && entry.WarmCount == 0
            && entry.ConnectBucket.IsFull(timeProvider, options.ConnectRateLimit, options.ConnectRateBurst)
            && entry.MessageBucket.IsFull(timeProvider, options.MessageRateLimit, options.MessageRateBurst))
        {
            entry.Removed = true;
            _users.TryRemove(new KeyValuePair<string, UserEntry>(entry.UserKey, entry));
            if (entry.KeptNodePlace != 0)
            {
                Volatile.Write(ref entry.KeptNodePlace, 0);
                Interlocked.Decrement(ref _active.Value);
            }

            if (entry.NearLimit)
            {
                entry.NearLimit = false;
                Interlocked.Decrement(ref _nearLimitUsers);
            }
        }
    }

    /// <summary>Under the entry's lock: tracks alert-threshold crossings; true when the user just crossed upwards.</summary>
    public bool UpdateNearLimit(UserEntry entry)
    {
        var near = entry.Count >= _nearLimitThreshold;
        if (near == entry.NearLimit)
        {
            return false;
        }

        entry.NearLimit = near;
        Interlocked.Add(ref _nearLimitUsers, near ? 1 : -1);
        return near;
    }
}

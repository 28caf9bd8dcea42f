// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Logging;
using Microsoft.Extensions.ObjectPool;

namespace WebSocketPool.Internal;

/// <summary>
/// Where managers come from and go back to: a user's freed manager stays warm for that user for
/// <see cref="WebSocketPoolOptions.ReuseWindow"/> (at most <see cref="WebSocketPoolOptions.MaxConnectionsPerUser"/> of
/// them), then is reset and returned to the shared <see cref="DefaultObjectPool{T}"/>. Nothing here is needed for
/// correctness: the sweep only returns memory, and the same trimming happens whenever the user is touched.
/// </summary>
internal sealed class ManagerLeases : IDisposable
{
    private static readonly long s_ticksPerMillisecond = Math.Max(1, TimeProvider.System.TimestampFrequency / 1000);

    // How many connection numbers a user takes from the node's counter at a time (see NextNumber).
    private const int NumberBlock = 32;

    private readonly DefaultObjectPool<IsolatedWebSocketManager> _pool;
    private readonly WebSocketPoolOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly UserTable _users;
    private readonly SlotLedger _ledger;
    private readonly AdmissionGateLink _gate;
    private readonly PoolDrain _drain;
    private readonly ILogger _logger;
    private readonly ITimer? _sweepTimer;
    private readonly bool _systemClock;
    private int _pooled;

    // The node's connection-number counter, touched once per block of numbers rather than per lease.
    private PaddedCounter _numbers;

    public ManagerLeases(
        PooledWebSocketManagerFactory factory,
        WebSocketPoolOptions options,
        TimeProvider timeProvider,
        UserTable users,
        SlotLedger ledger,
        AdmissionGateLink gate,
        PoolDrain drain,
        ILogger logger)
    {
        _options = options;
        _timeProvider = timeProvider;
        _users = users;
        _ledger = ledger;
        _gate = gate;
        _drain = drain;
        _logger = logger;
        _systemClock = ReferenceEquals(timeProvider, TimeProvider.System);
        _pool = new DefaultObjectPool<IsolatedWebSocketManager>(new ManagerPoolPolicy(factory), Math.Max(1, options.MaxPooledManagers));

        // Rate-limit buckets also keep a user's entry until they refill; without the sweep, users who never come back
        // would leave their entries behind when there is no reuse window (then a sweep a minute is plenty).
        if (options.ReuseWindow > TimeSpan.Zero || options.ConnectRateLimit > 0 || options.MessageRateLimit > 0)
        {
            var basis = options.ReuseWindow > TimeSpan.Zero ? options.ReuseWindow.Ticks / 2 : TimeSpan.TicksPerMinute;
            var period = TimeSpan.FromTicks(Math.Clamp(basis, TimeSpan.TicksPerSecond, TimeSpan.TicksPerMinute));
            _sweepTimer = timeProvider.CreateTimer(static s => ((ManagerLeases)s!).Sweep(), this, period, period);
        }
    }

    public int PooledCount => Volatile.Read(ref _pooled);

    /// <summary>
    /// Gets how many freed managers are kept warm, summed over the users' warm lists (read without their locks: exact at
    /// rest, a gauge's reading while leases come and go). Counted when read, not on every lease and return: a shared
    /// counter cost two atomic operations on one cache line for every reconnect, from every core.
    /// </summary>
    public int WarmCount
    {
        get
        {
            var warm = 0;
            foreach (var (_, entry) in _users.Entries)
            {
                warm += entry.WarmCount;
            }

            return warm;
        }
    }

    /// <summary>
    /// Under the user's lock (and the address's, when there is one): leases a warm manager of the user, else one from the
    /// shared pool, for a new connection counted under <paramref name="address"/>.
    /// </summary>
    public (IsolatedWebSocketManager Manager, long Generation) Lease(UserEntry entry, string userKey, bool holdsSlot, AddressEntry? address)
    {
        IsolatedWebSocketManager manager;
        if (entry.Warm is { Count: > 0 } warm)
        {
            manager = warm[^1];
            warm.RemoveAt(warm.Count - 1);
            manager.WarmSince = 0;
        }
        else
        {
            manager = _pool.Get();
            if (manager.WarmSince == -1)
            {
                // Came from the shared pool rather than being created.
                manager.WarmSince = 0;
                Interlocked.Decrement(ref _pooled);
            }
        }

        var number = NextNumber(entry);
        var generation = manager.BeginLease(userKey, entry, number, holdsSlot, address);
        if (address is not null)
        {
            address.Count++;
        }

        entry.Active.Add(manager);
        return (manager, generation);
    }

    /// <summary>
    /// Ends a lease: releases whatever it still holds, wipes it, keeps it warm for its user or pools it. After a socket
    /// the run's end has released everything already (<c>ConnectionLifecycle.EndAsync</c>); an admission abandoned before
    /// the upgrade still holds its places, and gives them back here under the same lock that ends the lease.
    /// </summary>
    public void Return(IsolatedWebSocketManager manager, long generation)
    {
        // A lease that is no longer current holds nothing and has already ended.
        if (!manager.IsCurrent(generation) || manager.Entry is not { } entry)
        {
            return;
        }

        // Read, then checked against the lease: numbers change only across a generation, so the number is this lease's.
        var number = manager.Number;
        if (!manager.IsCurrent(generation))
        {
            return;
        }

        // Groups and the registry before the user's lock, in the ledger's order. A lease that never had a socket is in
        // neither and never can be: only the run registers a connection, and a join needs an open socket (checked under
        // the manager's group lock against this lease's generation, which ends below).
        if (manager.HadSocket)
        {
            _ledger.Unlist(manager, number);
        }

        var toPool = false;
        bool released;
        lock (entry)
        {
            if (!manager.IsCurrent(generation))
            {
                // Another caller ended this lease first.
                return;
            }

            released = _ledger.ReleaseAllLocked(entry, manager, generation);
            entry.RemoveActive(manager);
            if (manager.HadSocket)
            {
                manager.EndLease();
            }
            else
            {
                // An abandoned admission: only the user's lock guards it (IsolatedWebSocketManager.EndLeaseWithoutSocket).
                manager.EndLeaseWithoutSocket();
            }

            if (_options.ReuseWindow > TimeSpan.Zero && entry.WarmCount < _options.MaxConnectionsPerUser && !_drain.IsDraining)
            {
                manager.WarmSince = WarmClock();
                (entry.Warm ??= new List<IsolatedWebSocketManager>(1)).Add(manager);
            }
            else
            {
                toPool = true;
            }

            _users.TryRemove(entry);
        }

        if (released)
        {
            _gate.Release(entry.UserKey, number);
        }

        if (toPool)
        {
            ReturnToPool(manager);
        }
    }

    /// <summary>
    /// Under the entry's lock: the next connection number of the user's block, taking a new block from the node's
    /// counter when it is used up. With one counter written by every lease, two users leasing on two cores moved its
    /// cache line between them each time; a block of numbers per user makes that one shared write in
    /// <see cref="NumberBlock"/>. Numbers stay unique on the node (blocks never overlap) and increase within a user;
    /// a user who leaves skips the rest of its block, which a 64-bit counter can afford.
    /// </summary>
    private long NextNumber(UserEntry entry)
    {
        // The counter moves only by whole blocks from 0, so every block ends on a multiple of the block size, and so does
        // a user's last number exactly when its block is used up (0: no block yet).
        if (entry.LastNumber % NumberBlock == 0)
        {
            entry.LastNumber = Interlocked.Add(ref _numbers.Value, NumberBlock) - NumberBlock;
        }

        return ++entry.LastNumber;
    }

    /// <summary>
    /// Under the entry's lock, before a lease: takes out warm managers past the reuse window, for pooling outside the lock.
    /// The newest is left for the lease to take, whatever its age (it is this user's, and pooling it would only send it
    /// the long way round), so a user with one warm manager at most costs no clock read.
    /// </summary>
    public List<IsolatedWebSocketManager>? TrimWarmBeforeLease(UserEntry entry) => entry.WarmCount > 1 ? TrimWarm(entry, WarmClock(), keepNewest: true) : null;

    public void ReturnToPool(List<IsolatedWebSocketManager>? managers)
    {
        if (managers is not null)
        {
            foreach (var manager in managers)
            {
                ReturnToPool(manager);
            }
        }
    }

    /// <summary>Returns warm managers older than the reuse window to the shared pool. Memory only; never throws.</summary>
    public void Sweep()
    {
        try
        {
            var now = WarmClock();
            foreach (var (_, entry) in _users.Entries)
            {
                List<IsolatedWebSocketManager>? expired = null;
                lock (entry)
                {
                    if (entry.Removed)
                    {
                        continue;
                    }

                    expired = TrimWarm(entry, now);
                    _users.TryRemove(entry);
                }

                ReturnToPool(expired);
            }
        }
#pragma warning disable CA1031 // A timer callback must never throw: that would end the process.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            SafeDiagnostics.Run(static (l, e) => PoolLog.UnexpectedFailure(l, "warm-manager sweep", e), _logger, ex);
        }
    }

    public void Dispose() => _sweepTimer?.Dispose();

    private void ReturnToPool(IsolatedWebSocketManager manager)
    {
        // Reserve a place in the count before returning: two threads returning at once cannot both take the last place,
        // so the count never exceeds what the pool (of the same capacity) actually keeps.
        var pooled = Volatile.Read(ref _pooled);
        while (true)
        {
            if (pooled >= _options.MaxPooledManagers)
            {
                manager.TryReset();
                manager.DisposeTimer();
                return;
            }

            var seen = Interlocked.CompareExchange(ref _pooled, pooled + 1, pooled);
            if (seen == pooled)
            {
                break;
            }

            pooled = seen;
        }

        // DefaultObjectPool resets through the policy, which also marks the manager (WarmSince -1, "in the shared pool")
        // before storing it: a concurrent Get always sees the mark, so the pooled count never drifts.
        _pool.Return(manager);
    }

    /// <summary>
    /// The clock that stamps and ages warm managers (<see cref="IsolatedWebSocketManager.WarmSince"/>), in
    /// <see cref="TimeProvider"/> timestamp units. With the system clock it reads the coarse tick count: a profile of
    /// lease + release put a fifth of its time in the two precise clock reads, while aging a warm manager against a
    /// reuse window of seconds needs no better than a few milliseconds. Any other provider (a test's fake clock) is read
    /// as is. Only warm ages use this clock, so stamps and comparisons never mix the two.
    /// </summary>
    private long WarmClock() => _systemClock ? Environment.TickCount64 * s_ticksPerMillisecond : _timeProvider.GetTimestamp();

    private List<IsolatedWebSocketManager>? TrimWarm(UserEntry entry, long now, bool keepNewest = false)
    {
        List<IsolatedWebSocketManager>? expired = null;
        if (entry.Warm is not { } warm)
        {
            return null;
        }

        for (var i = warm.Count - (keepNewest ? 2 : 1); i >= 0; i--)
        {
            var manager = warm[i];
            if (_timeProvider.GetElapsedTime(manager.WarmSince, now) >= _options.ReuseWindow)
            {
                warm.RemoveAt(i);
                manager.WarmSince = 0;
                (expired ??= []).Add(manager);
            }
        }

        return expired;
    }
}

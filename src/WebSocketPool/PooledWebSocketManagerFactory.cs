// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.ObjectPool;
using Microsoft.Extensions.Options;
using WebSocketPool.Internal;

namespace WebSocketPool;

/// <summary>
/// Leases <see cref="IsolatedWebSocketManager"/> instances from per-user pools, keyed by user. It decides admission
/// (reserving a slot atomically against the per-user and global caps and applying the overflow policy) before the
/// WebSocket upgrade, and releases a slot the instant its socket ends, on every path. Release is idempotent and can
/// never free another connection's slot. Nothing here depends on a timer for correctness: the warm-manager sweep
/// only returns memory to the shared pool, and the same trimming also happens whenever the user is touched.
/// </summary>
public sealed partial class PooledWebSocketManagerFactory : IDisposable
{
    private static readonly long s_ticksPerMillisecond = Math.Max(1, TimeProvider.System.TimestampFrequency / 1000);

    private readonly ConcurrentDictionary<string, UserEntry> _users = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<long, IsolatedWebSocketManager> _connections = new();
    private readonly DefaultObjectPool<IsolatedWebSocketManager> _pool;
    private readonly ILogger _logger;
    private readonly long[] _rejected = new long[RejectionReasons.All.Count];
    private readonly string _nodePrefix;
    private readonly ITimer? _sweepTimer;
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly bool _systemClock;
    private int _active;
    private int _pooled;
    private int _warm;
    private int _nearLimitUsers;
    private long _evicted;
    private long _nextNumber;
    private volatile bool _draining;
    private IWebSocketAdmissionGate? _gate;

    internal PooledWebSocketManagerFactory(
        IOptions<WebSocketPoolOptions> options,
        TimeProvider timeProvider,
        WebSocketPoolMetrics metrics,
        ILogger<PooledWebSocketManagerFactory>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentNullException.ThrowIfNull(metrics);
        Options = options.Value;
        TimeProvider = timeProvider;
        _systemClock = ReferenceEquals(timeProvider, TimeProvider.System);
        Metrics = metrics;
        _logger = logger ?? NullLogger<PooledWebSocketManagerFactory>.Instance;
        _pool = new DefaultObjectPool<IsolatedWebSocketManager>(new ManagerPoolPolicy(this), Math.Max(1, Options.MaxPooledManagers));
        _nodePrefix = CreateNodePrefix();
        Groups = new GroupRegistry();
        metrics.Observe(this);
        // Rate-limit buckets also keep a user's entry until they refill; without the sweep, users who never come back
        // would leave their entries behind when there is no reuse window (then a sweep a minute is plenty).
        if (Options.ReuseWindow > TimeSpan.Zero || Options.ConnectRateLimit > 0 || Options.MessageRateLimit > 0)
        {
            var basis = Options.ReuseWindow > TimeSpan.Zero ? Options.ReuseWindow.Ticks / 2 : TimeSpan.TicksPerMinute;
            var period = TimeSpan.FromTicks(Math.Clamp(basis, TimeSpan.TicksPerSecond, TimeSpan.TicksPerMinute));
            _sweepTimer = timeProvider.CreateTimer(static s => ((PooledWebSocketManagerFactory)s!).SweepWarmManagers(), this, period, period);
        }
    }

    /// <summary>Raised once each time a user's connections rise to the alert threshold of the per-user limit.</summary>
    public event EventHandler<UserNearLimitEventArgs>? UserNearLimit;

    /// <summary>Gets the connections counted against the limits on this node (open sockets plus handshakes in progress).</summary>
    public int ActiveConnections => Volatile.Read(ref _active);

    /// <summary>Gets a value indicating whether shutdown has started and new connections are refused.</summary>
    public bool IsDraining => _draining;

    /// <summary>Gets the prefix of this node's connection ids.</summary>
    public string NodeId => _nodePrefix;

    internal WebSocketPoolOptions Options { get; }

    internal TimeProvider TimeProvider { get; }

    internal WebSocketPoolMetrics Metrics { get; }

    internal GroupRegistry Groups { get; }

    internal int PooledCount => Volatile.Read(ref _pooled);

    internal int WarmCount => Volatile.Read(ref _warm);

    internal int NearLimitUsers => Volatile.Read(ref _nearLimitUsers);

    internal int UserEntryCount => _users.Count;

    /// <summary>The per-user entries, for the invariant checks of tests (lock an entry before reading it).</summary>
    internal ICollection<UserEntry> UserEntries => _users.Values;

    internal int OpenConnectionCount => _connections.Count;

    internal ICollection<IsolatedWebSocketManager> OpenManagers => _connections.Values;

    /// <summary>Gets how many connections a user holds on this node.</summary>
    /// <param name="userKey">The user.</param>
    /// <returns>The user's counted connections, 0 for an unknown user.</returns>
    public int GetConnectionCount(string userKey)
    {
        ArgumentNullException.ThrowIfNull(userKey);
        return _users.TryGetValue(userKey, out var entry) ? Volatile.Read(ref entry.Count) : 0;
    }

    /// <summary>
    /// Decides a connection attempt and, when admitted, reserves its slot and leases a manager for it. Checks, in order:
    /// draining, connect rate, global cap, per-user cap (with the overflow policy).
    /// </summary>
    /// <param name="userKey">The user opening the connection.</param>
    /// <returns>The decision; an admitted one holds a reservation that must be used or abandoned.</returns>
    public WebSocketAdmission TryAdmit(string userKey)
    {
        ArgumentException.ThrowIfNullOrEmpty(userKey);
        var limit = Options.MaxConnectionsPerUser;
        if (_draining)
        {
            return Reject(RejectionReasons.Draining, limit, GetConnectionCount(userKey));
        }

        while (true)
        {
            var entry = _users.GetOrAdd(userKey, static key => new UserEntry(key));
            IsolatedWebSocketManager? victim = null;
            long victimGeneration = 0;
            long victimNumber = 0;
            WebSocketAdmission? rejection = null;
            IsolatedWebSocketManager? manager = null;
            long generation = 0;
            var crossed = false;
            int count;
            List<IsolatedWebSocketManager>? expired;
            lock (entry)
            {
                if (entry.Removed)
                {
                    continue;
                }

                expired = TrimWarm(entry, WarmClock());
                count = entry.Count;
                if (Options.ConnectRateLimit > 0
                    && !entry.ConnectBucket.TryTake(TimeProvider, Options.ConnectRateLimit, Options.ConnectRateBurst, out var wait))
                {
                    rejection = Reject(RejectionReasons.RateLimited, limit, count, wait);
                }
                else if (Volatile.Read(ref _active) >= Options.MaxConnections)
                {
                    rejection = Reject(RejectionReasons.GlobalLimit, Options.MaxConnections, Volatile.Read(ref _active));
                }
                else if (count >= limit)
                {
                    if (Options.OverflowPolicy == OverflowPolicy.EvictOldest && (victim = ChooseVictim(entry)) is not null && victim.TryTakeSlot(victimGeneration = victim.Generation))
                    {
                        // The victim's slot passes straight to the newcomer: the user's count never exceeds the limit.
                        victimNumber = victim.Number;
                        (manager, generation) = Lease(entry, userKey);
                    }
                    else
                    {
                        victim = null;
                        rejection = Reject(RejectionReasons.UserLimit, limit, count);
                    }
                }
                else if (!TryIncrementActive())
                {
                    rejection = Reject(RejectionReasons.GlobalLimit, Options.MaxConnections, Volatile.Read(ref _active));
                }
                else
                {
                    count = ++entry.Count;
                    (manager, generation) = Lease(entry, userKey);
                    crossed = UpdateNearLimit(entry);
                }

                if (rejection is not null)
                {
                    TryRemove(entry);
                }
            }

            ReturnToPool(expired);
            if (rejection is { } refused)
            {
                return refused;
            }

            if (victim is not null)
            {
                Interlocked.Increment(ref _evicted);
                Metrics.Evicted();
                Log.Evicted(_logger, victim.ConnectionId ?? string.Empty);
                ReleaseGate(userKey, victimNumber);
                victim.RequestClose(victimGeneration, WebSocketCloseCodes.Evicted, "Replaced by a newer connection.", DisconnectReason.Evicted, discardPending: true);
            }

            if (crossed)
            {
                OnNearLimit(userKey, count, limit);
            }

            return new WebSocketAdmission(null, 101, limit, count, null, manager, generation, victim, victimGeneration);
        }
    }

    /// <summary>Answers what <see cref="TryAdmit"/> would decide right now, reserving and consuming nothing.</summary>
    /// <param name="userKey">The user.</param>
    /// <returns>The decision; never holds a reservation.</returns>
    public WebSocketAdmission Preview(string userKey)
    {
        ArgumentException.ThrowIfNullOrEmpty(userKey);
        var limit = Options.MaxConnectionsPerUser;
        var count = 0;
        var wait = TimeSpan.Zero;
        var rateOk = true;
        if (_users.TryGetValue(userKey, out var entry))
        {
            lock (entry)
            {
                count = entry.Count;
                rateOk = Options.ConnectRateLimit <= 0 || entry.ConnectBucket.WouldAllow(TimeProvider, Options.ConnectRateLimit, Options.ConnectRateBurst, out wait);
            }
        }

        if (_draining)
        {
            return Preview(RejectionReasons.Draining, limit, count, DrainingRetryAfter);
        }

        if (!rateOk)
        {
            return Preview(RejectionReasons.RateLimited, limit, count, wait);
        }

        if (Volatile.Read(ref _active) >= Options.MaxConnections)
        {
            return Preview(RejectionReasons.GlobalLimit, Options.MaxConnections, Volatile.Read(ref _active), RetryAfterBusy);
        }

        if (count >= limit && Options.OverflowPolicy == OverflowPolicy.Reject)
        {
            return Preview(RejectionReasons.UserLimit, limit, count, RetryAfterBusy);
        }

        return new WebSocketAdmission(null, 200, limit, count, null);
    }

    /// <summary>Gives back a reservation whose handshake did not complete. Harmless when called twice.</summary>
    /// <param name="admission">The admission returned by <see cref="TryAdmit"/>.</param>
    public void Abandon(in WebSocketAdmission admission)
    {
        if (admission.Manager is { } manager && manager.IsCurrent(admission.Generation))
        {
            Return(manager, admission.Generation);
        }
    }

    /// <summary>Counts a refusal decided outside the factory (origin, authentication) under its reason tag.</summary>
    /// <param name="reason">One of <see cref="RejectionReasons"/>.</param>
    public void RecordRejection(string reason)
    {
        var index = RejectionIndex(reason);
        Interlocked.Increment(ref _rejected[index]);
        Metrics.Rejected(RejectionReasons.All[index]);
    }

    /// <summary>Takes a point-in-time snapshot of the pool.</summary>
    /// <param name="top">How many users to list, most connections first (clamped to 0–1000).</param>
    /// <returns>The snapshot.</returns>
    public WebSocketPoolSnapshot GetSnapshot(int top = 100)
    {
        top = Math.Clamp(top, 0, 1000);
        var heap = new PriorityQueue<UserConnectionCount, int>(top + 1);
        var users = 0;
        foreach (var (key, entry) in _users)
        {
            var count = Volatile.Read(ref entry.Count);
            if (count == 0)
            {
                continue;
            }

            users++;
            if (top == 0)
            {
                continue;
            }

            if (heap.Count < top)
            {
                heap.Enqueue(new UserConnectionCount(key, count, Options.MaxConnectionsPerUser), count);
            }
            else if (heap.TryPeek(out _, out var smallest) && count > smallest)
            {
                heap.EnqueueDequeue(new UserConnectionCount(key, count, Options.MaxConnectionsPerUser), count);
            }
        }

        var list = new UserConnectionCount[heap.Count];
        for (var i = list.Length - 1; i >= 0; i--)
        {
            list[i] = heap.Dequeue();
        }

        var rejected = new Dictionary<string, long>(StringComparer.Ordinal);
        for (var i = 0; i < _rejected.Length; i++)
        {
            var count = Interlocked.Read(ref _rejected[i]);
            if (count == 0 && RejectionReasons.All[i] == RejectionReasons.ClusterUnavailable && Volatile.Read(ref _gate) is null)
            {
                // Only a cluster gate gives this reason; a single node reports exactly the six local reasons.
                continue;
            }

            rejected[RejectionReasons.All[i]] = count;
        }

        return new WebSocketPoolSnapshot
        {
            ActiveConnections = ActiveConnections,
            MaxConnections = Options.MaxConnections,
            UserCount = users,
            Draining = _draining,
            Users = list,
            Rejected = rejected,
            Evicted = Interlocked.Read(ref _evicted),
            PooledManagers = PooledCount,
            WarmManagers = WarmCount,
        };
    }

    /// <summary>Returns the user's open connections on this node.</summary>
    /// <param name="userKey">The user.</param>
    /// <returns>Handles for the user's connections whose sockets are open.</returns>
    public IReadOnlyList<WebSocketConnection> GetConnections(string userKey)
    {
        ArgumentNullException.ThrowIfNull(userKey);
        if (!_users.TryGetValue(userKey, out var entry))
        {
            return [];
        }

        lock (entry)
        {
            var list = new List<WebSocketConnection>(entry.Active.Count);
            foreach (var manager in entry.Active)
            {
                if (manager.HasSocket && manager.IsOpenForSend)
                {
                    list.Add(new WebSocketConnection(manager, manager.Generation, manager.GetConnectionId(), userKey));
                }
            }

            return list;
        }
    }

    /// <summary>Finds an open connection on this node by id.</summary>
    /// <param name="connectionId">The connection id.</param>
    /// <param name="connection">The handle, when found.</param>
    /// <returns><see langword="true"/> when the connection is open on this node.</returns>
    public bool TryGetConnection(string connectionId, out WebSocketConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connectionId);
        if (TryGetManager(connectionId, out var manager, out var generation) && manager.UserKey is { } user)
        {
            connection = new WebSocketConnection(manager, generation, connectionId, user);
            return true;
        }

        connection = default;
        return false;
    }

    internal bool TryGetManager(string connectionId, out IsolatedWebSocketManager manager, out long generation)
    {
        if (TryParseConnectionId(connectionId, out var number) && _connections.TryGetValue(number, out manager!))
        {
            generation = manager.Generation;
            return manager.Number == number && manager.IsCurrent(generation);
        }

        manager = null!;
        generation = 0;
        return false;
    }

    /// <summary>Copies a user's open managers (with their lease generations) for sending outside the user's lock.</summary>
    internal int CopyUserManagers(string userKey, ref (IsolatedWebSocketManager Manager, long Generation)[] buffer)
    {
        if (!_users.TryGetValue(userKey, out var entry))
        {
            return 0;
        }

        lock (entry)
        {
            if (buffer.Length < entry.Active.Count)
            {
                buffer = new (IsolatedWebSocketManager, long)[entry.Active.Count];
            }

            var count = 0;
            foreach (var manager in entry.Active)
            {
                if (manager.HasSocket)
                {
                    buffer[count++] = (manager, manager.Generation);
                }
            }

            return count;
        }
    }

    /// <summary>
    /// Closes every connection of a user on this node with <paramref name="closeCode"/>. The slots are free when the
    /// call returns; the sockets finish closing in the background.
    /// </summary>
    /// <param name="userKey">The user.</param>
    /// <param name="closeCode">The close code; 4003 by default.</param>
    /// <param name="reason">The close reason.</param>
    /// <returns>How many connections were closed.</returns>
    public int DisconnectUser(string userKey, int closeCode = WebSocketCloseCodes.Kicked, string? reason = null)
    {
        ArgumentNullException.ThrowIfNull(userKey);
        if (!_users.TryGetValue(userKey, out var entry))
        {
            return 0;
        }

        List<(IsolatedWebSocketManager Manager, long Generation)> closing;
        lock (entry)
        {
            closing = new(entry.Active.Count);
            foreach (var manager in entry.Active)
            {
                if (manager.HasSocket)
                {
                    closing.Add((manager, manager.Generation));
                }
            }
        }

        var closed = 0;
        foreach (var (manager, generation) in closing)
        {
            if (Kick(manager, generation, closeCode, reason))
            {
                closed++;
            }
        }

        return closed;
    }

    /// <summary>Closes one connection on this node; its slot is free when the call returns.</summary>
    /// <param name="connectionId">The connection id.</param>
    /// <param name="closeCode">The close code; 4003 by default.</param>
    /// <param name="reason">The close reason.</param>
    /// <returns><see langword="true"/> when the connection was found and closed.</returns>
    public bool DisconnectConnection(string connectionId, int closeCode = WebSocketCloseCodes.Kicked, string? reason = null)
    {
        ArgumentNullException.ThrowIfNull(connectionId);
        return TryParseConnectionId(connectionId, out var number)
            && _connections.TryGetValue(number, out var manager)
            && Kick(manager, manager.Generation, closeCode, reason);
    }

    /// <summary>Starts draining: refuses new connections and sends 1001 to every open socket.</summary>
    public void BeginDrain()
    {
        if (_draining)
        {
            return;
        }

        _draining = true;
        Log.DrainStarted(_logger, _connections.Count);
        foreach (var manager in _connections.Values)
        {
            manager.RequestClose(manager.Generation, WebSocketCloseCodes.GoingAway, "Server shutting down.", DisconnectReason.Shutdown, discardPending: false);
        }

        SignalIfDrained();
    }

    /// <summary>
    /// Drains the node: 1001 to every socket, waits up to <see cref="WebSocketPoolOptions.ShutdownTimeout"/> for them to
    /// close, then aborts the rest and waits for their release.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting (the host's own shutdown deadline).</param>
    /// <returns>A task that completes when every socket has ended or waiting was cancelled.</returns>
    public async Task DrainAsync(CancellationToken cancellationToken = default)
    {
        BeginDrain();
        var started = TimeProvider.GetTimestamp();
        if (!await WaitDrainedAsync(Options.ShutdownTimeout, cancellationToken).ConfigureAwait(false))
        {
            var left = _connections.Count;
            foreach (var manager in _connections.Values)
            {
                manager.AbortCurrent(DisconnectReason.Shutdown);
            }

            Log.DrainAborted(_logger, left);
            await WaitDrainedAsync(TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false);
        }

        Log.DrainFinished(_logger, TimeProvider.GetElapsedTime(started).TotalMilliseconds, _connections.Count);
    }

    private async Task<bool> WaitDrainedAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (_drained.Task.IsCompleted)
        {
            return true;
        }

        try
        {
            await _drained.Task.WaitAsync(timeout, TimeProvider, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
        catch (OperationCanceledException)
        {
            return _drained.Task.IsCompleted;
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _sweepTimer?.Dispose();
    }

    internal IsolatedWebSocketManager CreateManager() => new(this);

    internal string FormatConnectionId(long number) => string.Concat(_nodePrefix, "-", number.ToString(CultureInfo.InvariantCulture));

    internal bool TryParseConnectionId(string connectionId, out long number)
    {
        number = 0;
        return connectionId.Length > _nodePrefix.Length + 1
            && connectionId.StartsWith(_nodePrefix, StringComparison.Ordinal)
            && connectionId[_nodePrefix.Length] == '-'
            && long.TryParse(connectionId.AsSpan(_nodePrefix.Length + 1), NumberStyles.None, CultureInfo.InvariantCulture, out number);
    }

    /// <summary>Registers an accepted socket's manager: now reachable for sends and counted as open.</summary>
    internal void OnConnectionOpened(IsolatedWebSocketManager manager)
    {
        manager.MarkConnected(TimeProvider.GetTimestamp(), TimeProvider.GetUtcNow());
        _connections[manager.Number] = manager;
        Log.Connected(_logger, manager.GetConnectionId());
        if (_draining)
        {
            // Accepted while the drain began: it gets its 1001 like every other socket.
            manager.RequestClose(manager.Generation, WebSocketCloseCodes.GoingAway, "Server shutting down.", DisconnectReason.Shutdown, discardPending: false);
        }
    }

    /// <summary>The socket has ended (every path ends here): release the slot and return the manager.</summary>
    internal void OnConnectionEnded(IsolatedWebSocketManager manager, WebSocketDisconnect disconnect)
    {
        var generation = manager.Generation;
        var connectionId = manager.GetConnectionId();
        Metrics.ConnectionEnded(TimeProvider.GetElapsedTime(manager.ConnectedTimestamp), disconnect.Reason);
        if (disconnect.Reason == DisconnectReason.KeepAliveTimeout)
        {
            Log.KeepAliveTimeout(_logger, connectionId);
        }

        Log.Disconnected(_logger, connectionId, disconnect.Reason, disconnect.CloseCode);
        _connections.TryRemove(new KeyValuePair<long, IsolatedWebSocketManager>(manager.Number, manager));
        Return(manager, generation);
        SignalIfDrained();
    }

    internal void OnHandlerError(WebSocketConnection connection, Exception exception) =>
        Log.HandlerFailed(_logger, connection.ConnectionId, exception);

    internal void OnSlowConsumer(IsolatedWebSocketManager manager)
    {
        Metrics.SlowConsumerDisconnected();
        Log.SlowConsumer(_logger, manager.ConnectionId ?? string.Empty);
    }

    internal void OnSendTimeout(IsolatedWebSocketManager manager)
    {
        Metrics.SendTimedOut();
        Log.SendTimedOut(_logger, manager.ConnectionId ?? string.Empty);
    }

    internal void OnMessageDropped() => Metrics.MessageDropped();

    internal bool TryAcquireMessageToken(IsolatedWebSocketManager manager)
    {
        if (Options.MessageRateLimit <= 0 || manager.Entry is not { } entry)
        {
            return true;
        }

        lock (entry)
        {
            return entry.MessageBucket.TryTake(TimeProvider, Options.MessageRateLimit, Options.MessageRateBurst, out _);
        }
    }

    private bool Kick(IsolatedWebSocketManager manager, long generation, int closeCode, string? reason)
    {
        if (!manager.IsCurrent(generation))
        {
            return false;
        }

        // Closing starts before the slot goes, so the socket is never seen open without a slot and not closing.
        var closed = manager.RequestClose(generation, closeCode, reason, DisconnectReason.Kicked, discardPending: false);
        ReleaseSlot(manager, generation);
        if (closed)
        {
            Metrics.Kicked();
            Log.Kicked(_logger, manager.ConnectionId ?? string.Empty, closeCode);
        }

        return closed;
    }

    private (IsolatedWebSocketManager Manager, long Generation) Lease(UserEntry entry, string userKey)
    {
        IsolatedWebSocketManager manager;
        if (entry.Warm.Count > 0)
        {
            manager = entry.Warm[^1];
            entry.Warm.RemoveAt(entry.Warm.Count - 1);
            manager.WarmSince = 0;
            Interlocked.Decrement(ref _warm);
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

        var number = Interlocked.Increment(ref _nextNumber);
        var generation = manager.BeginLease(userKey, entry, number);
        entry.Active.Add(manager);
        return (manager, generation);
    }

    /// <summary>Ends a lease: frees its slot if still held, wipes it, keeps it warm for its user or pools it.</summary>
    private void Return(IsolatedWebSocketManager manager, long generation)
    {
        // A lease that is no longer current holds no slot either (the slot is cleared, under the user's lock, before
        // the generation moves on), so there is nothing to release and nothing to end.
        if (!manager.IsCurrent(generation))
        {
            return;
        }

        // Always, not only when the manager has groups: a join racing this release is refused once RemoveAll has run.
        // Done before the user's lock (as before), and now also before the slot goes: the groups only ever deliver to
        // this lease's generation, so leaving them first changes nothing a sender or the audit can observe.
        Groups.RemoveAll(manager);

        var entry = manager.Entry;
        var toPool = false;
        var released = false;
        long number = 0;
        if (entry is null)
        {
            return;
        }

        // One section under the user's lock frees the slot and ends the lease (it used to take the lock twice: once
        // in ReleaseSlot and once here). The slot is still taken under the user's lock, so the audit's view holds.
        lock (entry)
        {
            // Taken under the user's lock: an audit holding it never sees a freed slot that is still counted.
            // TryTakeSlot stays the one generation-checked step, so a double release is harmless.
            if (manager.TryTakeSlot(generation))
            {
                // The slot was this lease's until now and EndLease runs only under this lock: the number is its own.
                number = manager.Number;
                entry.Count--;
                UpdateNearLimit(entry);

                // Inside the user's lock, so an audit holding every user's lock sees the global count stand still.
                Interlocked.Decrement(ref _active);
                released = true;
            }

            if (!manager.IsCurrent(generation))
            {
                // Another release ended this lease first. Nothing was freed here: under this lock a slot still held
                // for the generation means the lease is still current.
                return;
            }

            entry.Active.Remove(manager);
            manager.EndLease();
            if (Options.ReuseWindow > TimeSpan.Zero && entry.Warm.Count < Options.MaxConnectionsPerUser && !_draining)
            {
                manager.WarmSince = WarmClock();
                entry.Warm.Add(manager);
                Interlocked.Increment(ref _warm);
            }
            else
            {
                toPool = true;
            }

            TryRemove(entry);
        }

        if (released)
        {
            ReleaseGate(entry.UserKey, number);
        }

        if (toPool)
        {
            ReturnToPool(manager);
        }
    }

    private void ReleaseSlot(IsolatedWebSocketManager manager, long generation)
    {
        // Read before the slot is taken: when the take succeeds, the number still belongs to this lease.
        var number = manager.Number;
        if (manager.Entry is not { } entry)
        {
            return;
        }

        lock (entry)
        {
            // Taken under the user's lock: an audit holding it never sees a freed slot that is still counted.
            if (!manager.TryTakeSlot(generation))
            {
                return;
            }

            entry.Count--;
            UpdateNearLimit(entry);

            // Inside the user's lock, so an audit holding every user's lock sees the global count stand still.
            Interlocked.Decrement(ref _active);
        }

        ReleaseGate(entry.UserKey, number);
    }

    /// <summary>Lets the admission gate used by the middleware hear of every slot given up. The first gate attached stays.</summary>
    internal void AttachGate(IWebSocketAdmissionGate gate) => Interlocked.CompareExchange(ref _gate, gate, null);

    /// <summary>Tells the admission gate (if any) that the slot of connection <paramref name="number"/> was given up.</summary>
    internal void ReleaseGate(string userKey, long number)
    {
        if (Volatile.Read(ref _gate) is not { } gate || number == 0)
        {
            return;
        }

        try
        {
            gate.Release(userKey, FormatConnectionId(number));
        }
#pragma warning disable CA1031 // A gate's failure must never stop a release.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.GateReleaseFailed(_logger, ex);
        }
    }

    private void ReturnToPool(IsolatedWebSocketManager manager)
    {
        if (Volatile.Read(ref _pooled) >= Options.MaxPooledManagers)
        {
            manager.TryReset();
            manager.DisposeTimer();
            return;
        }

        // DefaultObjectPool resets through the policy, which also marks the manager (WarmSince -1, "in the shared pool")
        // before storing it: a concurrent Get always sees the mark, so the pooled count never drifts.
        Interlocked.Increment(ref _pooled);
        _pool.Return(manager);
    }

    /// <summary>Returns warm managers older than the reuse window to the shared pool. Memory only; never needed for correctness.</summary>
    internal void SweepWarmManagers()
    {
        var now = WarmClock();
        foreach (var entry in _users.Values)
        {
            List<IsolatedWebSocketManager>? expired = null;
            lock (entry)
            {
                if (entry.Removed)
                {
                    continue;
                }

                expired = TrimWarm(entry, now);
                TryRemove(entry);
            }

            ReturnToPool(expired);
        }
    }

    private void ReturnToPool(List<IsolatedWebSocketManager>? managers)
    {
        if (managers is not null)
        {
            foreach (var manager in managers)
            {
                ReturnToPool(manager);
            }
        }
    }

    /// <summary>
    /// The clock that stamps and ages warm managers (<see cref="IsolatedWebSocketManager.WarmSince"/>), in
    /// <see cref="TimeProvider"/> timestamp units. With the system clock it reads the coarse tick count: a profile of
    /// lease + release put a fifth of its time in the two precise clock reads (one to trim on admission, one to stamp
    /// on return), while aging a warm manager against a reuse window of seconds needs no better than a few
    /// milliseconds. Any other provider (a test's fake clock) is read as is. Only warm ages use this clock, so stamps
    /// and comparisons never mix the two.
    /// </summary>
    private long WarmClock() => _systemClock ? Environment.TickCount64 * s_ticksPerMillisecond : TimeProvider.GetTimestamp();

    /// <summary>Under the entry's lock: takes out warm managers past the reuse window. Returns them for pooling outside the lock.</summary>
    private List<IsolatedWebSocketManager>? TrimWarm(UserEntry entry, long now)
    {
        List<IsolatedWebSocketManager>? expired = null;
        for (var i = entry.Warm.Count - 1; i >= 0; i--)
        {
            var manager = entry.Warm[i];
            if (TimeProvider.GetElapsedTime(manager.WarmSince, now) >= Options.ReuseWindow)
            {
                entry.Warm.RemoveAt(i);
                Interlocked.Decrement(ref _warm);
                manager.WarmSince = 0;
                (expired ??= []).Add(manager);
            }
        }

        return expired;
    }

    /// <summary>Under the entry's lock: removes the entry when it holds nothing worth keeping.</summary>
    private void TryRemove(UserEntry entry)
    {
        if (entry.Count == 0 && entry.Active.Count == 0 && entry.Warm.Count == 0
            && entry.ConnectBucket.IsFull(TimeProvider, Options.ConnectRateLimit, Options.ConnectRateBurst)
            && entry.MessageBucket.IsFull(TimeProvider, Options.MessageRateLimit, Options.MessageRateBurst))
        {
            entry.Removed = true;
            _users.TryRemove(new KeyValuePair<string, UserEntry>(entry.UserKey, entry));
            if (entry.NearLimit)
            {
                entry.NearLimit = false;
                Interlocked.Decrement(ref _nearLimitUsers);
            }
        }
    }

    /// <summary>Under the entry's lock: tracks threshold crossings; true when the user just crossed upwards.</summary>
    private bool UpdateNearLimit(UserEntry entry)
    {
        var threshold = Math.Max(1, (int)Math.Ceiling(Options.AlertThreshold * Options.MaxConnectionsPerUser));
        var near = entry.Count >= threshold;
        if (near == entry.NearLimit)
        {
            return false;
        }

        entry.NearLimit = near;
        Interlocked.Add(ref _nearLimitUsers, near ? 1 : -1);
        return near;
    }

    private void OnNearLimit(string userKey, int count, int limit)
    {
        Log.UserNearLimit(_logger, count, limit);
        try
        {
            UserNearLimit?.Invoke(this, new UserNearLimitEventArgs(userKey, count, limit));
        }
#pragma warning disable CA1031 // A subscriber's failure must not fail the admission that raised the event.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.NearLimitHandlerFailed(_logger, ex);
        }
    }

    private static IsolatedWebSocketManager? ChooseVictim(UserEntry entry)
    {
        IsolatedWebSocketManager? victim = null;
        foreach (var candidate in entry.Active)
        {
            if (!candidate.HoldsSlot || !candidate.HasSocket || !candidate.IsOpenForSend)
            {
                continue;
            }

            if (victim is null
                || candidate.SilentSince < victim.SilentSince
                || (candidate.SilentSince == victim.SilentSince && candidate.ConnectedTimestamp < victim.ConnectedTimestamp))
            {
                victim = candidate;
            }
        }

        return victim;
    }

    private bool TryIncrementActive()
    {
        var max = Options.MaxConnections;
        var current = Volatile.Read(ref _active);
        while (current < max)
        {
            var seen = Interlocked.CompareExchange(ref _active, current + 1, current);
            if (seen == current)
            {
                return true;
            }

            current = seen;
        }

        return false;
    }

    private WebSocketAdmission Reject(string reason, int limit, int current, TimeSpan? retryAfter = null)
    {
        RecordRejection(reason);
        Log.Rejected(_logger, reason, current, limit);
        return Preview(reason, limit, current, retryAfter ?? (reason == RejectionReasons.Draining ? DrainingRetryAfter : RetryAfterBusy));
    }

    private static WebSocketAdmission Preview(string reason, int limit, int current, TimeSpan? retryAfter) =>
        new(reason, StatusCodeOf(reason), limit, current, retryAfter);

    internal static int StatusCodeOf(string reason) => reason switch
    {
        RejectionReasons.Draining or RejectionReasons.GlobalLimit or RejectionReasons.ClusterUnavailable => 503,
        RejectionReasons.Origin => 403,
        RejectionReasons.Unauthenticated => 401,
        _ => 429,
    };

    internal TimeSpan DrainingRetryAfter => Options.ShutdownTimeout + TimeSpan.FromSeconds(1);

    private static TimeSpan RetryAfterBusy => TimeSpan.FromSeconds(5);

    private static int RejectionIndex(string reason)
    {
        for (var i = 0; i < RejectionReasons.All.Count; i++)
        {
            if (string.Equals(RejectionReasons.All[i], reason, StringComparison.Ordinal))
            {
                return i;
            }
        }

        throw new ArgumentException($"Unknown rejection reason '{reason}'.", nameof(reason));
    }

    private void SignalIfDrained()
    {
        if (_draining && _connections.IsEmpty)
        {
            _drained.TrySetResult();
        }
    }

    private static string CreateNodePrefix()
    {
        Span<byte> bytes = stackalloc byte[5];
        RandomNumberGenerator.Fill(bytes);
        return Convert.ToHexStringLower(bytes);
    }
}

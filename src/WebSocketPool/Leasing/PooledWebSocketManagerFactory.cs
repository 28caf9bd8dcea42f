// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Buffers;
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

    /// <summary>
    /// Gets the connections counted against <see cref="WebSocketPoolOptions.MaxConnections"/> on this node: handshakes in
    /// progress, open sockets, and sockets still closing after a kick or an eviction (they hold a descriptor until then).
    /// </summary>
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

    /// <summary>
    /// The open connections, for a broadcast: enumerating the dictionary itself takes no lock and copies nothing (unlike
    /// its <c>Values</c>, which takes every lock and copies the table), at the cost of not being a snapshot.
    /// </summary>
    internal ConcurrentDictionary<long, IsolatedWebSocketManager> OpenConnections => _connections;

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
                    // EvictOldest: the newcomer pledges the victim's slot now (so the user's count never exceeds the limit)
                    // and takes it only once its socket is accepted; the victim is closed then, and not before.
                    // A closing victim still holds its socket, so the newcomer needs a place in the node's count of its own.
                    IsolatedWebSocketManager? victim;
                    if (Options.OverflowPolicy != OverflowPolicy.EvictOldest || (victim = ChooseVictim(entry)) is null)
                    {
                        rejection = Reject(RejectionReasons.UserLimit, limit, count);
                    }
                    else if (!TryIncrementActive())
                    {
                        rejection = Reject(RejectionReasons.GlobalLimit, Options.MaxConnections, Volatile.Read(ref _active));
                    }
                    else
                    {
                        (manager, generation) = Lease(entry, userKey, holdsSlot: false);
                        manager.PledgeVictim = victim;
                        manager.PledgeVictimGeneration = victim.Generation;
                        victim.PledgedTo = manager;
                        victim.PledgedToGeneration = generation;
                    }
                }
                else if (!TryIncrementActive())
                {
                    rejection = Reject(RejectionReasons.GlobalLimit, Options.MaxConnections, Volatile.Read(ref _active));
                }
                else
                {
                    count = ++entry.Count;
                    (manager, generation) = Lease(entry, userKey, holdsSlot: true);
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

            if (crossed)
            {
                OnNearLimit(userKey, count, limit);
            }

            return new WebSocketAdmission(null, 101, limit, count, null, manager, generation);
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

    /// <summary>
    /// Gives back a reservation whose handshake did not complete. Harmless when called twice. A victim the admission
    /// would have evicted (EvictOldest) keeps its slot and lives on.
    /// </summary>
    /// <param name="admission">The admission returned by <see cref="TryAdmit"/>.</param>
    public void Abandon(in WebSocketAdmission admission)
    {
        if (admission.Manager is { } manager && manager.IsCurrent(admission.Generation))
        {
            try
            {
                ReleaseSlots(manager, admission.Generation);
            }
            finally
            {
                Return(manager, admission.Generation);
            }
        }
    }

    /// <summary>
    /// The admitted connection's socket has been accepted: a slot it pledged (EvictOldest) now passes to it, and the
    /// victim is closed with 4001. Until this moment nothing was evicted, so a refused gate or a failed handshake costs
    /// no one a connection. Never throws.
    /// </summary>
    internal void CommitAdmission(IsolatedWebSocketManager manager, long generation)
    {
        if (manager.Entry is not { } entry)
        {
            return;
        }

        IsolatedWebSocketManager? victim;
        long victimGeneration;
        long victimNumber;
        lock (entry)
        {
            victim = manager.PledgeVictim;
            if (victim is null || !manager.IsCurrent(generation))
            {
                // No pledge, or the victim ended on its own meanwhile and its slot already passed to this lease.
                return;
            }

            victimGeneration = manager.PledgeVictimGeneration;
            victimNumber = victim.Number;
            if (ReleaseUserSlotLocked(entry, victim, victimGeneration) != SlotRelease.HandedOver)
            {
                // Cannot happen while the pledge stands (the victim's slot is released only through this same
                // method, which hands it over); withdraw the pledge rather than over-admit.
                WithdrawPledgeLocked(manager);
                return;
            }
        }

        Interlocked.Increment(ref _evicted);
        ReleaseGate(entry.UserKey, victimNumber);
        victim.RequestClose(victimGeneration, WebSocketCloseCodes.Evicted, "Replaced by a newer connection.", DisconnectReason.Evicted, discardPending: true);
        Guard(static (f, id) =>
        {
            f.Metrics.Evicted();
            Log.Evicted(f._logger, id);
        }, FormatConnectionId(victimNumber));
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
                // Swap for a bigger pooled array: the caller returns whichever array it ends up holding.
                ArrayPool<(IsolatedWebSocketManager, long)>.Shared.Return(buffer, clearArray: true);
                buffer = ArrayPool<(IsolatedWebSocketManager, long)>.Shared.Rent(entry.Active.Count);
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
    /// Closes every connection of a user on this node with <paramref name="closeCode"/>, including those still in their
    /// handshake (they are closed with the same code as soon as they are accepted). The per-user slots are free when the
    /// call returns; the sockets finish closing in the background and count against the node's cap until they have.
    /// </summary>
    /// <param name="userKey">The user.</param>
    /// <param name="closeCode">The close code; 4003 by default. 1000–1003, 1007–1014 or 3000–4999.</param>
    /// <param name="reason">The close reason, at most 123 UTF-8 bytes.</param>
    /// <returns>How many connections were closed.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The code is not one an application may send, or the reason is too long.</exception>
    public int DisconnectUser(string userKey, int closeCode = WebSocketCloseCodes.Kicked, string? reason = null)
    {
        ArgumentNullException.ThrowIfNull(userKey);
        CloseArguments.ThrowIfInvalid(closeCode, reason);
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
                if (!manager.IsEnded)
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
    /// <param name="closeCode">The close code; 4003 by default. 1000–1003, 1007–1014 or 3000–4999.</param>
    /// <param name="reason">The close reason, at most 123 UTF-8 bytes.</param>
    /// <returns><see langword="true"/> when the connection was found and closed.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The code is not one an application may send, or the reason is too long.</exception>
    public bool DisconnectConnection(string connectionId, int closeCode = WebSocketCloseCodes.Kicked, string? reason = null)
    {
        ArgumentNullException.ThrowIfNull(connectionId);
        CloseArguments.ThrowIfInvalid(closeCode, reason);

        // The lookup checks the connection number against the manager's current lease: a pooled manager reused for a
        // later connection is never reached through an earlier connection's id.
        return TryGetManager(connectionId, out var manager, out var generation) && Kick(manager, generation, closeCode, reason);
    }

    /// <summary>Starts draining: refuses new connections and sends 1001 to every open socket.</summary>
    public void BeginDrain()
    {
        if (_draining)
        {
            return;
        }

        _draining = true;
        Guard(static (f, count) => Log.DrainStarted(f._logger, count), _connections.Count);
        foreach (var (_, manager) in _connections)
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
            foreach (var (_, manager) in _connections)
            {
                manager.AbortCurrent(DisconnectReason.Shutdown);
            }

            Guard(static (f, count) => Log.DrainAborted(f._logger, count), left);
            await WaitDrainedAsync(TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false);
        }

        var elapsed = TimeProvider.GetElapsedTime(started).TotalMilliseconds;
        Guard(static (f, ms) => Log.DrainFinished(f._logger, ms, f._connections.Count), elapsed);
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

    /// <summary>
    /// Registers an accepted socket's manager: now reachable for sends and counted as open. A slot it pledged passes to
    /// it now, and the victim is closed. Called inside the connection's run, so whatever happens after, it ends through
    /// <see cref="EndConnectionAsync"/>.
    /// </summary>
    internal void OnConnectionOpened(IsolatedWebSocketManager manager, long generation)
    {
        manager.MarkConnected(TimeProvider.GetTimestamp(), TimeProvider.GetUtcNow());
        _connections[manager.Number] = manager;
        CommitAdmission(manager, generation);
        Guard(static (f, m) => Log.Connected(f._logger, m.GetConnectionId()), manager);
        if (_draining)
        {
            // Accepted while the drain began: it gets its 1001 like every other socket.
            manager.RequestClose(generation, WebSocketCloseCodes.GoingAway, "Server shutting down.", DisconnectReason.Shutdown, discardPending: false);
        }
    }

    /// <summary>
    /// The one way out of an accepted connection, called from the <c>finally</c> of its run once the socket has ended.
    /// In this order, each step in a <c>finally</c> of the one before, so that no exception (a handler, a logging
    /// provider) can skip a later one: the slots are released and the connection leaves the registry and its groups;
    /// the drain hears of it; the handler's <see cref="WebSocketHandler.OnDisconnectedAsync"/> runs (the handle's
    /// <see cref="WebSocketConnection.Items"/> still usable); the lease ends and the manager goes warm or to the pool.
    /// </summary>
    internal async Task EndConnectionAsync(
        IsolatedWebSocketManager manager, long generation, WebSocketConnection connection, WebSocketDisconnect disconnect, WebSocketHandler? handler)
    {
        try
        {
            try
            {
                try
                {
                    manager.MarkEnded();
                    ReleaseSlots(manager, generation);
                }
                finally
                {
                    SignalIfDrained();
                }

                Guard(static (f, state) =>
                {
                    var (m, d, id) = state;
                    f.Metrics.ConnectionEnded(f.TimeProvider.GetElapsedTime(m.ConnectedTimestamp), d.Reason);
                    if (d.Reason == DisconnectReason.KeepAliveTimeout)
                    {
                        Log.KeepAliveTimeout(f._logger, id);
                    }

                    Log.Disconnected(f._logger, id, d.Reason, d.CloseCode);
                }, (manager, disconnect, connection.ConnectionId));
            }
            finally
            {
                if (handler is not null)
                {
                    try
                    {
                        await handler.OnDisconnectedAsync(connection, disconnect).ConfigureAwait(false);
                    }
#pragma warning disable CA1031 // A handler's failure must not escape into the server.
                    catch (Exception ex)
#pragma warning restore CA1031
                    {
                        OnHandlerError(connection, ex);
                    }
                }
            }
        }
        finally
        {
            Return(manager, generation);
        }
    }

    internal void OnHandlerError(WebSocketConnection connection, Exception exception) =>
        Guard(static (f, state) => Log.HandlerFailed(f._logger, state.Item1, state.Item2), (connection.ConnectionId, exception));

    internal void OnSlowConsumer(IsolatedWebSocketManager manager) => Guard(static (f, m) =>
    {
        f.Metrics.SlowConsumerDisconnected();
        Log.SlowConsumer(f._logger, m.ConnectionId ?? string.Empty);
    }, manager);

    internal void OnSendTimeout(IsolatedWebSocketManager manager) => Guard(static (f, m) =>
    {
        f.Metrics.SendTimedOut();
        Log.SendTimedOut(f._logger, m.ConnectionId ?? string.Empty);
    }, manager);

    /// <summary>Reports a failure that a background path (a timer, a write loop) caught instead of letting it escape.</summary>
    internal void OnUnexpectedFailure(string where, Exception exception) =>
        Guard(static (f, state) => Log.UnexpectedFailure(f._logger, state.Item1, state.Item2), (where, exception));

    /// <summary>
    /// Runs a side effect that must not break the path it sits on (a log write, a metric): the release path, timers and
    /// the drain go on whatever a logging provider or a listener throws.
    /// </summary>
    private void Guard<TState>(Action<PooledWebSocketManagerFactory, TState> action, TState state) =>
        SafeDiagnostics.Run(action, this, state);

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
        if (!manager.IsCurrent(generation) || manager.IsEnded)
        {
            return false;
        }

        // Closing starts before the slot goes, so the socket is never seen open without a slot and not closing. A lease
        // still in its handshake is closed with this code as soon as its socket is accepted. The socket keeps its place
        // in the node's count until it has ended.
        var closed = manager.RequestClose(generation, closeCode, reason, DisconnectReason.Kicked, discardPending: false);
        ReleaseUserSlot(manager, generation);
        if (closed)
        {
            Guard(static (f, state) =>
            {
                f.Metrics.Kicked();
                Log.Kicked(f._logger, state.Item1.ConnectionId ?? string.Empty, state.Item2);
            }, (manager, closeCode));
        }

        return closed;
    }

    private (IsolatedWebSocketManager Manager, long Generation) Lease(UserEntry entry, string userKey, bool holdsSlot)
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
        var generation = manager.BeginLease(userKey, entry, number, holdsSlot);
        entry.Active.Add(manager);
        return (manager, generation);
    }

    /// <summary>
    /// Ends a lease: releases whatever it still holds (by then nothing, on every path but a bug's), wipes it, keeps it
    /// warm for its user or pools it.
    /// </summary>
    private void Return(IsolatedWebSocketManager manager, long generation)
    {
        // A lease that is no longer current holds nothing and has already ended.
        if (!manager.IsCurrent(generation) || manager.Entry is not { } entry)
        {
            return;
        }

        // Groups are left when the socket ends; this is for a lease that never had one. Before the user's lock, as
        // everywhere: a join racing this release is refused once RemoveAll has run.
        Groups.RemoveAll(manager);

        var toPool = false;
        var gate = false;
        long number = 0;
        lock (entry)
        {
            if (!manager.IsCurrent(generation))
            {
                // Another caller ended this lease first.
                return;
            }

            number = manager.Number;
            gate = ReleaseSlotsLocked(entry, manager, generation);
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

        if (gate)
        {
            ReleaseGate(entry.UserKey, number);
        }

        if (toPool)
        {
            ReturnToPool(manager);
        }
    }

    /// <summary>
    /// Releases both places of lease <paramref name="generation"/> (its per-user slot or pledge, and its place in the
    /// node's count), takes it out of the registry and its groups, and tells the gate. Idempotent: a second call finds
    /// nothing to release. This is where every path out of a connection releases its slot: a socket's end, an abandoned
    /// handshake and the lease's end all come here.
    /// </summary>
    private void ReleaseSlots(IsolatedWebSocketManager manager, long generation)
    {
        if (manager.Entry is not { } entry)
        {
            return;
        }

        // Read, then checked against the lease: numbers change only across a generation, so the number is this lease's.
        var number = manager.Number;
        if (!manager.IsCurrent(generation))
        {
            return;
        }

        _connections.TryRemove(new KeyValuePair<long, IsolatedWebSocketManager>(number, manager));

        Groups.RemoveAll(manager);
        bool gate;
        lock (entry)
        {
            if (!manager.IsCurrent(generation))
            {
                return;
            }

            gate = ReleaseSlotsLocked(entry, manager, generation);
        }

        if (gate)
        {
            ReleaseGate(entry.UserKey, number);
        }
    }

    /// <summary>Under the user's lock: <see cref="ReleaseSlots"/> without the registry; true when the gate must hear of it.</summary>
    private bool ReleaseSlotsLocked(UserEntry entry, IsolatedWebSocketManager manager, long generation)
    {
        var gate = ReleaseUserSlotLocked(entry, manager, generation) != SlotRelease.None;
        if (manager.TryTakeNodeSlot(generation))
        {
            // Inside the user's lock, so an audit holding every user's lock sees the node's count stand still.
            Interlocked.Decrement(ref _active);
        }

        return gate;
    }

    /// <summary>Gives up only the per-user slot (a kick: the socket keeps its place in the node's count until it ends).</summary>
    private void ReleaseUserSlot(IsolatedWebSocketManager manager, long generation)
    {
        if (manager.Entry is not { } entry)
        {
            return;
        }

        var number = manager.Number;
        SlotRelease released;
        lock (entry)
        {
            released = manager.IsCurrent(generation) ? ReleaseUserSlotLocked(entry, manager, generation) : SlotRelease.None;
        }

        if (released != SlotRelease.None)
        {
            ReleaseGate(entry.UserKey, number);
        }
    }

    /// <summary>
    /// Under the user's lock: gives up the per-user slot of lease <paramref name="generation"/>, or withdraws its pledge.
    /// A slot another admission pledged passes to that admission instead of being freed, so the count stays within the
    /// limit. The slot is taken by one compare-and-swap on the lease's generation: a double release is harmless and a
    /// late release can never free the slot of a later lease.
    /// </summary>
    private SlotRelease ReleaseUserSlotLocked(UserEntry entry, IsolatedWebSocketManager manager, long generation)
    {
        if (!manager.TryTakeSlot(generation))
        {
            if (manager.PledgeVictim is not null && manager.IsCurrent(generation))
            {
                WithdrawPledgeLocked(manager);
                return SlotRelease.PledgeWithdrawn;
            }

            return SlotRelease.None;
        }

        var heir = manager.PledgedTo;
        var heirGeneration = manager.PledgedToGeneration;
        manager.PledgedTo = null;
        manager.PledgedToGeneration = 0;
        if (heir is not null && heir.IsCurrent(heirGeneration) && ReferenceEquals(heir.PledgeVictim, manager))
        {
            heir.PledgeVictim = null;
            heir.PledgeVictimGeneration = 0;
            heir.GiveSlot(heirGeneration);
            return SlotRelease.HandedOver;
        }

        entry.Count--;
        UpdateNearLimit(entry);
        return SlotRelease.Freed;
    }

    /// <summary>Under the user's lock: an admission gives up the slot it pledged; the victim keeps it.</summary>
    private static void WithdrawPledgeLocked(IsolatedWebSocketManager manager)
    {
        if (manager.PledgeVictim is { } victim && ReferenceEquals(victim.PledgedTo, manager))
        {
            victim.PledgedTo = null;
            victim.PledgedToGeneration = 0;
        }

        manager.PledgeVictim = null;
        manager.PledgeVictimGeneration = 0;
    }

    /// <summary>Lets the admission gate used by the middleware hear of every slot given up. The first gate attached stays.</summary>
    internal void AttachGate(IWebSocketAdmissionGate gate) => Interlocked.CompareExchange(ref _gate, gate, null);

    /// <summary>The gate admitted <paramref name="connection"/> in place of another connection: evict that one now. Never throws.</summary>
    internal async ValueTask EvictThroughGateAsync(WebSocketConnection connection, string victimConnectionId, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _gate) is not { } gate)
        {
            return;
        }

        try
        {
            await gate.EvictAsync(connection.UserKey, connection.ConnectionId, victimConnectionId, cancellationToken).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // A failed eviction leaves the user one over the cluster limit until a connection ends; it never costs this one.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            OnUnexpectedFailure("admission gate's eviction", ex);
        }
    }

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
            Guard(static (f, e) => Log.GateReleaseFailed(f._logger, e), ex);
        }
    }

    private void ReturnToPool(IsolatedWebSocketManager manager)
    {
        // Reserve a place in the count before returning: two threads returning at once cannot both take the last place,
        // so the count never exceeds what the pool (of the same capacity) actually keeps.
        var pooled = Volatile.Read(ref _pooled);
        while (true)
        {
            if (pooled >= Options.MaxPooledManagers)
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

    /// <summary>Returns warm managers older than the reuse window to the shared pool. Memory only; never needed for correctness.</summary>
    internal void SweepWarmManagers()
    {
        try
        {
            SweepWarmManagersCore();
        }
#pragma warning disable CA1031 // A timer callback must never throw: that would end the process.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            OnUnexpectedFailure("warm-manager sweep", ex);
        }
    }

    private void SweepWarmManagersCore()
    {
        var now = WarmClock();
        foreach (var (_, entry) in _users)
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
        Guard(static (f, state) => Log.UserNearLimit(f._logger, state.count, state.limit), (count, limit));
        try
        {
            UserNearLimit?.Invoke(this, new UserNearLimitEventArgs(userKey, count, limit));
        }
#pragma warning disable CA1031 // A subscriber's failure must not fail the admission that raised the event.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Guard(static (f, e) => Log.NearLimitHandlerFailed(f._logger, e), ex);
        }
    }

    private static IsolatedWebSocketManager? ChooseVictim(UserEntry entry)
    {
        IsolatedWebSocketManager? victim = null;
        foreach (var candidate in entry.Active)
        {
            // Only an open connection that holds its slot and is not already promised to another newcomer; a handshake
            // in progress (the newest) is never the victim.
            if (!candidate.HoldsSlot || !candidate.HasSocket || !candidate.IsOpenForSend || candidate.PledgedTo is not null)
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
        Guard(static (f, state) => Log.Rejected(f._logger, state.reason, state.current, state.limit), (reason, current, limit));
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

    private enum SlotRelease
    {
        None,
        Freed,
        HandedOver,
        PledgeWithdrawn,
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

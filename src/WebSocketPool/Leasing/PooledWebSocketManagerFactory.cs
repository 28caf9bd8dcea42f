// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;
using System.Net;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using WebSocketPool.Internal;

namespace WebSocketPool;

/// <summary>
/// Leases <see cref="IsolatedWebSocketManager"/> instances from per-user pools, keyed by user. It decides admission
/// (reserving a slot atomically against the per-user and global caps and applying the overflow policy) before the
/// WebSocket upgrade, and releases a slot the instant its socket ends, on every path. Release is idempotent and can
/// never free another connection's slot. Nothing here depends on a timer for correctness.
/// </summary>
/// <remarks>
/// The entry point of the pool; each job lives in its own class and this one delegates: admission
/// (<c>Admission/AdmissionDecider</c>), leases and the warm pool (<c>Leasing/ManagerLeases</c>), the one place a slot is
/// released (<c>Leasing/SlotLedger</c>), the per-user entries and the node's count (<c>Leasing/UserTable</c>), the
/// connection registry (<c>Connections/ConnectionRegistry</c>), a connection's open and end
/// (<c>Connections/ConnectionLifecycle</c>), kicks (<c>Messaging/ConnectionKicker</c>), the drain
/// (<c>Hosting/PoolDrain</c>), the snapshot and the audit (<c>Diagnostics/</c>). docs/architecture.md draws the path.
/// </remarks>
public sealed class PooledWebSocketManagerFactory : IDisposable
{
    private long _sendQueuesMade;

    private readonly UserTable _users;
    private readonly AddressTable _addresses;
    private readonly SendQueueSweep _sendQueueSweep;
    private readonly ConnectionRegistry _registry;
    private readonly AdmissionGateLink _gate;
    private readonly SlotLedger _ledger;
    private readonly PoolDrain _drain;
    private readonly ManagerLeases _leases;
    private readonly AdmissionDecider _admission;
    private readonly ConnectionLifecycle _lifecycle;
    private readonly ConnectionKicker _kicker;
    private readonly SnapshotBuilder _snapshot;
    private readonly LeaseAudit _audit;
    private readonly ILogger _logger;

    internal PooledWebSocketManagerFactory(
        IOptions<WebSocketPoolOptions> options,
        TimeProvider timeProvider,
        WebSocketPoolMetrics metrics,
        ILogger<PooledWebSocketManagerFactory>? logger = null,
        SharedUserLimit? sharedLimit = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentNullException.ThrowIfNull(metrics);
        Options = options.Value;
        TimeProvider = timeProvider;
        Metrics = metrics;
        _logger = logger ?? NullLogger<PooledWebSocketManagerFactory>.Instance;
        Groups = new GroupRegistry();
        _users = new UserTable(Options, timeProvider, sharedLimit);
        _addresses = new AddressTable(Options, timeProvider, _logger);
        _registry = new ConnectionRegistry(_users);
        _sendQueueSweep = new SendQueueSweep(_registry, timeProvider);
        _gate = new AdmissionGateLink(_registry, _logger);
        _ledger = new SlotLedger(_users, _addresses, _registry, Groups, _gate);
        _drain = new PoolDrain(Options, timeProvider, _registry, _logger);
        _leases = new ManagerLeases(this, Options, timeProvider, _users, _ledger, _gate, _drain, _logger);
        _admission = new AdmissionDecider(Options, timeProvider, _users, _addresses, _leases, _drain, metrics, _logger, OnNearLimit);
        _lifecycle = new ConnectionLifecycle(Options, timeProvider, _registry, _ledger, _leases, _gate, _drain, metrics, _logger);
        _kicker = new ConnectionKicker(_users, _registry, _ledger, metrics, _logger);
        _snapshot = new SnapshotBuilder(Options, _users, _admission, _gate, _drain, _lifecycle, _leases);
        _audit = new LeaseAudit(timeProvider, _users, _addresses, _registry, _ledger, _gate, metrics, _logger);
        metrics.Observe(this);
    }

    /// <summary>Raised once each time a user's connections rise to the alert threshold of the per-user limit.</summary>
    public event EventHandler<UserNearLimitEventArgs>? UserNearLimit;

    /// <summary>
    /// Gets the connections counted against <see cref="WebSocketPoolOptions.MaxConnections"/> on this node: handshakes in
    /// progress, open sockets, and sockets still closing after a kick or an eviction (they hold a descriptor until then).
    /// </summary>
    public int ActiveConnections => _users.Active;

    /// <summary>Gets the node's count as <see cref="WebSocketPoolOptions.MaxConnections"/> bounds it: <see cref="ActiveConnections"/> plus the places users keep for their next lease.</summary>
    internal int NodePlacesTaken => _users.Taken;

    /// <summary>Gets a value indicating whether shutdown has started and new connections are refused.</summary>
    public bool IsDraining => _drain.IsDraining;

    /// <summary>Gets the prefix of this node's connection ids.</summary>
    public string NodeId => _registry.NodeId;

    internal WebSocketPoolOptions Options { get; }

    /// <summary>Gets the pool's name (<see cref="WebSocketPoolOptions.DefaultPoolName"/> for the default pool), its metrics tag.</summary>
    public string PoolName => Metrics.Pool;

    /// <summary>Gets the most connections one user may hold in this pool (<see cref="WebSocketPoolOptions.MaxConnectionsPerUser"/>).</summary>
    public int MaxConnectionsPerUser => Options.MaxConnectionsPerUser;

    /// <summary>Gets the per-user total shared with the other pools of the pool's limit group, if it is in one.</summary>
    internal SharedUserLimit? SharedLimit => _users.Shared;

    internal TimeProvider TimeProvider { get; }

    internal WebSocketPoolMetrics Metrics { get; }

    internal GroupRegistry Groups { get; }

    internal int PooledCount => _leases.PooledCount;

    internal int WarmCount => _leases.WarmCount;

    internal int NearLimitUsers => _users.NearLimitUsers;

    internal int UserEntryCount => _users.Count;

    /// <summary>Gets how many client addresses (IPv6 networks) the per-IP limits keep an entry for.</summary>
    internal int AddressEntryCount => _addresses.Count;

    /// <summary>The per-user entries, for the invariant checks of tests (lock an entry before reading it).</summary>
    internal ICollection<UserEntry> UserEntries => _users.Entries.Values;

    internal int OpenConnectionCount => _registry.Count;

    /// <inheritdoc cref="ConnectionRegistry.Open"/>
    internal ConcurrentDictionary<long, IsolatedWebSocketManager> OpenConnections => _registry.Open;

    /// <inheritdoc cref="ConnectionRegistry.Slots"/>
    internal ReadOnlySpan<IsolatedWebSocketManager?> OpenSlots => _registry.Slots;

    internal TimeSpan DrainingRetryAfter => _drain.RetryAfter;

    /// <summary>Gets how many send queues (each with its writer) leases have made: only a send, or a resumable connection, makes one.</summary>
    internal long SendQueuesMade => Volatile.Read(ref _sendQueuesMade);

    internal void OnSendQueueMade() => Interlocked.Increment(ref _sendQueuesMade);

    /// <inheritdoc cref="SendQueueSweep.Run"/>
    internal int GiveBackIdleSendQueues() => _sendQueueSweep.Run();

    /// <summary>Gets how many connections are counted under the per-IP limit for <paramref name="clientAddress"/>'s key (0 when none is on).</summary>
    internal int GetAddressConnectionCount(IPAddress clientAddress) =>
        _addresses.KeyOf(clientAddress) is { } key && _addresses.TryGet(key, out var entry) ? Volatile.Read(ref entry.Count) : 0;

    /// <summary>Gets how many connections a user holds on this node.</summary>
    /// <param name="userKey">The user.</param>
    /// <returns>The user's counted connections, 0 for an unknown user.</returns>
    public int GetConnectionCount(string userKey)
    {
        ArgumentNullException.ThrowIfNull(userKey);
        return _users.GetConnectionCount(userKey);
    }

    /// <summary>
    /// Decides a connection attempt without a client address (so no per-IP limit applies) and, when admitted, reserves
    /// its slot and leases a manager for it. See <see cref="TryAdmit(string, IPAddress?)"/>.
    /// </summary>
    /// <param name="userKey">The user opening the connection.</param>
    /// <returns>The decision; an admitted one holds a reservation that must be used or abandoned.</returns>
    internal WebSocketAdmission TryAdmit(string userKey) => TryAdmit(userKey, clientAddress: null);

    /// <summary>
    /// Decides a connection attempt and, when admitted, reserves its slot and leases a manager for it. Checks, in order:
    /// draining, per-IP connect rate, per-IP cap, per-user connect rate, global cap, per-user cap (with the overflow
    /// policy). The per-IP checks apply only when a per-IP limit is on and <paramref name="clientAddress"/> is given.
    /// </summary>
    /// <param name="userKey">The user opening the connection.</param>
    /// <param name="clientAddress">The client's address (<c>HttpContext.Connection.RemoteIpAddress</c>), or <see langword="null"/>.</param>
    /// <returns>The decision; an admitted one holds a reservation that must be used or abandoned.</returns>
    internal WebSocketAdmission TryAdmit(string userKey, IPAddress? clientAddress)
    {
        ArgumentException.ThrowIfNullOrEmpty(userKey);
        return _admission.TryAdmit(userKey, clientAddress);
    }

    /// <summary>
    /// A resume attempt spends connect tokens like a new connection (the per-IP rate, then the user's), and nothing else:
    /// its slot is the held session's. Returns the refusal, or <see langword="null"/> when the attempt may go on.
    /// </summary>
    internal WebSocketAdmission? TakeConnectTokens(string userKey, IPAddress? clientAddress)
    {
        ArgumentException.ThrowIfNullOrEmpty(userKey);
        return _admission.TakeConnectTokens(userKey, clientAddress);
    }

    /// <summary>Answers what <see cref="TryAdmit(string)"/> would decide right now, reserving and consuming nothing.</summary>
    /// <param name="userKey">The user.</param>
    /// <returns>The decision; never holds a reservation.</returns>
    internal WebSocketAdmission Preview(string userKey) => Preview(userKey, clientAddress: null);

    /// <summary>Answers what <see cref="TryAdmit(string, IPAddress?)"/> would decide right now, reserving and consuming nothing.</summary>
    /// <param name="userKey">The user.</param>
    /// <param name="clientAddress">The client's address, or <see langword="null"/>.</param>
    /// <returns>The decision; never holds a reservation.</returns>
    internal WebSocketAdmission Preview(string userKey, IPAddress? clientAddress)
    {
        ArgumentException.ThrowIfNullOrEmpty(userKey);
        return _admission.Preview(userKey, clientAddress);
    }

    /// <summary>
    /// Gives back a reservation whose handshake did not complete. Harmless when called twice. A victim the admission
    /// would have evicted (EvictOldest) keeps its slot and lives on.
    /// </summary>
    /// <param name="admission">The admission returned by <see cref="TryAdmit(string, IPAddress?)"/>.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] // Inlined, the caller's admission is read in place rather than copied first.
    internal void Abandon(in WebSocketAdmission admission)
    {
        // One pass under the user's lock: the places go back (through the ledger) and the lease ends together.
        if (admission.Manager is { } manager)
        {
            _leases.Return(manager, admission.Generation);
        }
    }

    /// <summary>Counts a refusal decided outside the factory (origin, authentication) under its reason tag.</summary>
    /// <param name="reason">One of <see cref="RejectionReasons"/>.</param>
    internal void RecordRejection(string reason) => _admission.RecordRejection(reason);

    /// <summary>Takes a point-in-time snapshot of the pool.</summary>
    /// <param name="top">How many users to list, most connections first (clamped to 0–1000).</param>
    /// <returns>The snapshot.</returns>
    public WebSocketPoolSnapshot GetSnapshot(int top = 100) => _snapshot.Build(top);

    /// <summary>Returns the user's open connections on this node.</summary>
    /// <param name="userKey">The user.</param>
    /// <returns>Handles for the user's connections whose sockets are open.</returns>
    public IReadOnlyList<WebSocketConnection> GetConnections(string userKey)
    {
        ArgumentNullException.ThrowIfNull(userKey);
        return _registry.GetConnections(userKey);
    }

    /// <summary>Finds an open connection on this node by id.</summary>
    /// <param name="connectionId">The connection id.</param>
    /// <param name="connection">The handle, when found.</param>
    /// <returns><see langword="true"/> when the connection is open on this node.</returns>
    public bool TryGetConnection(string connectionId, out WebSocketConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connectionId);
        return _registry.TryGetConnection(connectionId, out connection);
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
        return _kicker.DisconnectUser(userKey, closeCode, reason);
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
        return _kicker.DisconnectConnection(connectionId, closeCode, reason);
    }

    /// <summary>Starts draining: refuses new connections and sends 1001 to every open socket.</summary>
    internal void BeginDrain() => _drain.Begin();

    /// <summary>
    /// Drains the node: 1001 to every socket, waits up to <see cref="WebSocketPoolOptions.ShutdownTimeout"/> for them to
    /// close, then aborts the rest and waits for their release.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting (the host's own shutdown deadline).</param>
    /// <returns>A task that completes when every socket has ended or waiting was cancelled.</returns>
    internal Task DrainAsync(CancellationToken cancellationToken = default) => _drain.DrainAsync(cancellationToken);

    /// <inheritdoc/>
    public void Dispose()
    {
        _leases.Dispose();
        _addresses.Dispose();
        _sendQueueSweep.Dispose();
    }

    internal static int StatusCodeOf(string reason) => AdmissionDecider.StatusCodeOf(reason);

    internal IsolatedWebSocketManager CreateManager() => new(this);

    internal string FormatConnectionId(long number) => _registry.FormatConnectionId(number);

    internal bool TryGetManager(string connectionId, out IsolatedWebSocketManager manager, out long generation) =>
        _registry.TryGetManager(connectionId, out manager, out generation);

    internal int CopyUserManagers(string userKey, ref (IsolatedWebSocketManager Manager, long Generation)[] buffer) =>
        _registry.CopyUserManagers(userKey, ref buffer);

    /// <summary>Lets the admission gate used by the middleware hear of every slot given up. The first gate attached stays.</summary>
    internal void AttachGate(IWebSocketAdmissionGate gate) => _gate.Attach(gate);

    internal void OnConnectionOpened(IsolatedWebSocketManager manager, long generation, CancellationToken requestAborted) =>
        _lifecycle.Opened(manager, generation, requestAborted);

    /// <inheritdoc cref="ConnectionLifecycle.EndAsync"/>
    internal Task EndConnectionAsync(
        IsolatedWebSocketManager manager, long generation, WebSocketConnection connection, WebSocketDisconnect disconnect, WebSocketHandler? handler) =>
        _lifecycle.EndAsync(manager, generation, connection, disconnect, handler);

    internal ValueTask EvictThroughGateAsync(WebSocketConnection connection, string victimConnectionId, CancellationToken cancellationToken) =>
        _lifecycle.EvictThroughGateAsync(connection, victimConnectionId, cancellationToken);

    internal void OnHandlerError(WebSocketConnection connection, Exception exception) => _lifecycle.HandlerFailed(connection, exception);

    internal void OnSlowConsumer(IsolatedWebSocketManager manager) => _lifecycle.SlowConsumer(manager);

    internal void OnSendTimeout(IsolatedWebSocketManager manager) => _lifecycle.SendTimedOut(manager);

    internal void OnMessageAssemblyTimeout(IsolatedWebSocketManager manager) => _lifecycle.MessageAssemblyTimedOut(manager);

    internal void OnAuthenticationExpired(IsolatedWebSocketManager manager) => _lifecycle.AuthenticationExpired(manager);

    internal void OnSessionHeld(IsolatedWebSocketManager manager, DisconnectReason reason) => _lifecycle.SessionHeld(manager, reason);

    internal void OnSessionResumed(IsolatedWebSocketManager manager, int replayed) => _lifecycle.SessionResumed(manager, replayed);

    internal void OnResumeRefused(string why) => _lifecycle.ResumeRefused(why);

    internal void OnSessionEnded(IsolatedWebSocketManager manager, string outcome) => _lifecycle.SessionEnded(manager, outcome);

    internal void OnUnexpectedFailure(string where, Exception exception) => _lifecycle.UnexpectedFailure(where, exception);

    internal void OnMessageDropped() => _lifecycle.MessageDropped();

    internal bool TryAcquireMessageToken(IsolatedWebSocketManager manager) => _lifecycle.TryAcquireMessageToken(manager);

    /// <summary>Returns warm managers older than the reuse window to the shared pool. Memory only; never needed for correctness.</summary>
    internal void SweepWarmManagers() => _leases.Sweep();

    /// <inheritdoc cref="LeaseAudit.Run"/>
    internal AuditResult Audit() => _audit.Run();

    /// <inheritdoc cref="LeaseAudit.InjectCountDriftForTesting"/>
    internal void InjectCountDriftForTesting(string userKey, int delta) => _audit.InjectCountDriftForTesting(userKey, delta);

    private void OnNearLimit(string userKey, int count, int limit)
    {
        SafeDiagnostics.Run(static (l, state) => PoolLog.UserNearLimit(l, state.count, state.limit), _logger, (count, limit));
        try
        {
            UserNearLimit?.Invoke(this, new UserNearLimitEventArgs(userKey, count, limit));
        }
#pragma warning disable CA1031 // A subscriber's failure must not fail the admission that raised the event.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            SafeDiagnostics.Run(static (l, e) => PoolLog.NearLimitHandlerFailed(l, e), _logger, ex);
        }
    }
}

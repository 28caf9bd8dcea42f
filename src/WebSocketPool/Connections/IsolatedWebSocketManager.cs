// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using System.Threading.Channels;
using Microsoft.Extensions.ObjectPool;
using WebSocketPool.Internal;

namespace WebSocketPool;

/// <summary>
/// One accepted socket for the lifetime of one lease: connection id, user key, connect time, last activity, an items
/// bag, a receive loop and a bounded outbound queue drained by a single writer (both made on the first send, or for the
/// close frame: an idle connection holds neither). Instances are pooled by
/// <see cref="PooledWebSocketManagerFactory"/>; a reset wipes every trace of the previous connection and user.
/// The app reaches a manager only through a <see cref="WebSocketConnection"/> handle bound to one lease.
/// </summary>
internal sealed partial class IsolatedWebSocketManager : IResettable
{
    private const string MessageAssemblyTimeoutReason = "Message not completed in time.";
    private const string AuthenticationExpiredReason = "Authentication expired.";

    private readonly PooledWebSocketManagerFactory _factory;

    // The manager's lock is the manager itself (`lock (this)`): the type is internal, so no other code takes it, and an
    // idle connection holds one object fewer.

    // Incremented when a lease starts and again when it ends, so a handle's generation matches only its own lease.
    private long _generation;

    // The lease's place in the per-user count (0 = none) and in the node's count of sockets (0 = none). The first goes
    // at a kick or an eviction; the second only when the socket has ended, so a closing socket still counts.
    private long _slotGeneration;
    private long _nodeSlotGeneration;

    // The lease's place in its client address's count (0 = none, or no per-IP limit); it goes with the node place.
    private long _addressSlotGeneration;
    private long _number;
    private string? _connectionId;
    private long _connectionIdNumber;
    private string? _userKey;
    private WebSocket? _socket;
    // The lease's send queue and its single writer: made on first use (GetOrCreateQueueLocked), never while idle.
    private Channel<Outbound>? _queue;
    private Task? _writer;

    // The writer of a queue given back while idle (GiveBackIdleQueue), until the next writer takes over from it.
    private Task? _givenBackWriter;

    // Set by each queued send, cleared by GiveBackIdleQueue: a queue found unused twice in a row is given back.
    private bool _queueUsed;

    // Stops the writer of a resumable connection without completing its queue, so a held session keeps what is queued.
    private CancellationTokenSource? _writerStop;

    // The connection's resume state when it speaks websocketpool.resume.v1 (Resumption/ResumeSession), else null.
    private ResumeSession? _resume;
    private volatile bool _queueCompleted;
    private volatile bool _ended;
    private Dictionary<object, object?>? _items;

    // The upgrade request of the current lease: valid while the lease lives (the request ends only after the lease), read
    // only under the manager's lock with the generation checked, and cleared when the lease ends.
    private HttpContext? _httpContext;

    // The connection's DI scope: made on first use of WebSocketConnection.Services, disposed by the lease's end
    // (ConnectionLifecycle.EndAsync, after OnDisconnectedAsync). Once disposed, no new one is made for this lease.
    private AsyncServiceScope? _scope;
    private bool _scopeEnded;
    private List<string>? _groups;
    private DateTimeOffset _connectedAt;
    private long _connectedTimestamp;
    private long _lastReceivedTimestamp;

    // The lease's handle, made when its run starts: the run and the receive loop read it here rather than each keeping a
    // copy in its frame for the connection's life.
    private WebSocketConnection _handle;
    private int _closeRequested;
    private int _closeCode;
    private string? _closeDescription;
    private volatile bool _discardPending;
    private DisconnectReason? _reason;
    private ITimer? _deadline;
    private long _armedDue;
    private long _deadlineGeneration;
    private long _deadlineDue;
    private long _assemblyDue;
    private long _authenticationDue;

    internal IsolatedWebSocketManager(PooledWebSocketManagerFactory factory)
    {
        _factory = factory;
    }

    /// <summary>Gets the id of the current connection, or <see langword="null"/> while the manager is pooled.</summary>
    public string? ConnectionId => _connectionId;

    /// <summary>Gets the user key of the current (or, while warm, the last) lease; <see langword="null"/> once reset into the shared pool.</summary>
    public string? UserKey => _userKey;

    /// <summary>Gets the generation of the current lease.</summary>
    public long Generation => Volatile.Read(ref _generation);

    internal UserEntry? Entry { get; set; }

    /// <summary>The manager's place in the registry's broadcast table while its connection is open, else -1 (under the registry's lock).</summary>
    internal int RegistrySlot { get; set; } = -1;

    /// <summary>The client address the lease is counted under (per-IP limits), or <see langword="null"/>.</summary>
    internal AddressEntry? Address { get; private set; }

    internal long Number => _number;

    internal long WarmSince { get; set; }

    internal bool HoldsSlot => Volatile.Read(ref _slotGeneration) is var slot && slot != 0 && slot == Generation;

    internal bool HoldsNodeSlot => Volatile.Read(ref _nodeSlotGeneration) is var slot && slot != 0 && slot == Generation;

    internal bool HoldsAddressSlot => Volatile.Read(ref _addressSlotGeneration) is var slot && slot != 0 && slot == Generation;

    // Open for sends: an accepted socket (its queue is made on the first send) or a held session's kept queue.
    internal bool IsOpenForSend =>
        Volatile.Read(ref _closeRequested) == 0 && (Volatile.Read(ref _socket) is not null || Volatile.Read(ref _queue) is not null) && !_queueCompleted;

    /// <summary>Gets a value indicating whether the current lease was asked to close (for the invariant checks of tests).</summary>
    internal bool IsCloseRequested => Volatile.Read(ref _closeRequested) == 1;

    /// <summary>Gets a value indicating whether the lease has made its send queue (for the cost checks of tests).</summary>
    internal bool HasSendQueue => Volatile.Read(ref _queue) is not null;

    /// <summary>
    /// Gets a value indicating whether the current lease was given a socket (it keeps it, ended or not, until the lease
    /// ends; a resumable session held without one keeps its resume state, which came with the socket). A lease that never
    /// had one was never registered, never joined a group and never gave out a handle.
    /// </summary>
    internal bool HadSocket => Volatile.Read(ref _socket) is not null || Volatile.Read(ref _resume) is not null;

    /// <summary>Gets a value indicating whether the lease has an accepted socket that has not ended yet.</summary>
    internal bool HasSocket => _socket is not null && !_ended;

    /// <summary>Gets a value indicating whether the lease's socket has ended (its slots are gone; the lease is finishing).</summary>
    internal bool IsEnded => _ended;

    /// <summary>
    /// Under the user's lock: the victim whose per-user slot this admitted lease will take over once its socket is
    /// accepted (EvictOldest). The pledge is withdrawn if the handshake fails, and the victim lives on.
    /// </summary>
    internal IsolatedWebSocketManager? PledgeVictim { get; set; }

    internal long PledgeVictimGeneration { get; set; }

    /// <summary>The pledged victim's connection id, taken under the user's lock, for a cluster gate to hand its lease over.</summary>
    internal string? PledgeVictimConnectionId { get; set; }

    /// <summary>Under the user's lock: the admitted lease that pledged this lease's slot, if any.</summary>
    internal IsolatedWebSocketManager? PledgedTo { get; set; }

    internal long PledgedToGeneration { get; set; }

    /// <summary>The connection id of a victim an admission gate named, evicted once this lease's socket is accepted.</summary>
    internal string? GateVictim { get; set; }

    internal WebSocketState? SocketState => _socket?.State;

    internal DateTimeOffset ConnectedAt => _connectedAt;

    internal ResumeSession? Resume => Volatile.Read(ref _resume);

    /// <summary>
    /// Gets when the last message arrived: derived from its monotonic timestamp and the connect time, so a message costs
    /// one clock read, not two.
    /// </summary>
    internal DateTimeOffset? LastReceivedAt =>
        Volatile.Read(ref _lastReceivedTimestamp) is var received and not 0 ? _connectedAt + _factory.TimeProvider.GetElapsedTime(_connectedTimestamp, received) : null;

    /// <summary>Gets the timestamp that orders eviction: the last inbound message, else the connect time.</summary>
    internal long SilentSince => _lastReceivedTimestamp != 0 ? _lastReceivedTimestamp : _connectedTimestamp;

    internal long ConnectedTimestamp => _connectedTimestamp;

    /// <summary>Gets a value indicating whether the manager holds any app state (for the invariant checks of tests).</summary>
    internal bool HasItems => Volatile.Read(ref _items) is { Count: > 0 };

    /// <summary>
    /// The items bag of lease <paramref name="generation"/>, or <see langword="null"/> when that lease has ended. Each
    /// lease gets its own dictionary (never a cleared one from before), so a stale handle cannot reach the next lease's.
    /// </summary>
    internal IDictionary<object, object?>? GetItems(long generation)
    {
        lock (this)
        {
            return _generation == generation ? _items ??= [] : null;
        }
    }

    /// <summary>Gets a value indicating whether the manager still holds a request (for the invariant checks of tests).</summary>
    internal bool HasRequest => Volatile.Read(ref _httpContext) is not null;

    /// <summary>
    /// Reads from the upgrade request of lease <paramref name="generation"/>, under the lock that ends the lease, so the
    /// read can never see a later request. <paramref name="fallback"/> when the lease has no request (not served through
    /// the middleware).
    /// </summary>
    /// <exception cref="InvalidOperationException">The lease has ended.</exception>
    internal T ReadRequest<T>(long generation, Func<HttpContext, T> read, T fallback)
    {
        lock (this)
        {
            if (_generation != generation)
            {
                throw StaleHandle();
            }

            return _httpContext is { } context ? read(context) : fallback;
        }
    }

    /// <summary>The subprotocol lease <paramref name="generation"/>'s socket was accepted with, or <see langword="null"/>.</summary>
    internal string? GetSubProtocol(long generation)
    {
        lock (this)
        {
            return _generation == generation ? ResumeProtocol.AppSubProtocol(_socket?.SubProtocol) : throw StaleHandle();
        }
    }

    /// <summary>The upgrade request of lease <paramref name="generation"/>, or <see langword="null"/> once that lease has ended.</summary>
    internal HttpContext? GetHttpContext(long generation)
    {
        lock (this)
        {
            return _generation == generation ? _httpContext : null;
        }
    }

    /// <summary>Gets a value indicating whether the manager still holds a DI scope (for the invariant checks of tests).</summary>
    internal bool HasScope => _scope is not null;

    /// <summary>
    /// The services of lease <paramref name="generation"/>'s DI scope, made on first use from the root provider (reached
    /// through the request). One scope per connection; it lives until <see cref="DisposeScopeAsync"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">The lease has ended, its scope is already disposed, or it has no request.</exception>
    internal IServiceProvider GetServices(long generation)
    {
        lock (this)
        {
            if (_generation != generation)
            {
                throw StaleHandle();
            }

            if (_scope is { } scope)
            {
                return scope.ServiceProvider;
            }

            if (_scopeEnded)
            {
                throw new InvalidOperationException("The connection has ended; its service scope is disposed.");
            }

            var root = _httpContext?.RequestServices
                ?? throw new InvalidOperationException("The connection did not come through the pool's middleware, so it has no services.");
            var created = root.GetRequiredService<IServiceScopeFactory>().CreateAsyncScope();
            _scope = created;
            return created.ServiceProvider;
        }
    }

    /// <summary>Disposes lease <paramref name="generation"/>'s DI scope, if one was made; no scope is made for it afterwards.</summary>
    internal ValueTask DisposeScopeAsync(long generation)
    {
        AsyncServiceScope? scope;
        lock (this)
        {
            if (_generation != generation)
            {
                return default;
            }

            scope = _scope;
            _scope = null;
            _scopeEnded = true;
        }

        return scope is { } s ? s.DisposeAsync() : default;
    }

    private static InvalidOperationException StaleHandle() => new("The lease of this connection has ended; the handle is stale.");

    internal List<string> Groups => _groups ??= [];

    internal bool HasGroups => _groups is { Count: > 0 };

    /// <summary>Set (under the <see cref="Groups"/> lock) once the lease is ending: no group may be joined after that.</summary>
    internal bool GroupsClosed { get; set; }

    internal bool IsCurrent(long generation) => Volatile.Read(ref _generation) == generation;

    /// <summary>
    /// Starts a lease for <paramref name="userKey"/>: called by the factory under the user's lock (and the address's). The
    /// lease always holds a place in the node's count, and in its address's count when there is one; it holds a per-user
    /// slot unless it is admitted on a pledge.
    /// </summary>
    internal long BeginLease(string userKey, UserEntry entry, long number, bool holdsSlot, AddressEntry? address)
    {
        // A warm manager goes back to its own user: its key and entry are already these, and rewriting them would cost a
        // GC write barrier each.
        if (!ReferenceEquals(_userKey, userKey))
        {
            _userKey = userKey;
        }

        if (!ReferenceEquals(Entry, entry))
        {
            Entry = entry;
        }

        Address = address;
        _number = number;
        _connectionId = null;

        // No lock on Groups here (one Monitor.Enter less per lease). The list exists before any handle of this lease
        // does, so Add and RemoveAll always lock the same object. Reopening without the lock is safe: a join under the
        // lock is refused by its generation unless it comes from this lease, and this lease's generation is published
        // only by the volatile (release) write below, after this write.
        _groups ??= [];
        GroupsClosed = false;

        _ended = false;
        _queueCompleted = false;

        // The generation has one writer at a time: a lease begins and ends under its user's lock (a reset into the shared
        // pool happens while one thread owns the manager). So no atomic increment: the release write publishes the new
        // generation after everything above, and the places after it are release writes too.
        var generation = _generation + 1;
        Volatile.Write(ref _generation, generation);
        Volatile.Write(ref _nodeSlotGeneration, generation);
        Volatile.Write(ref _addressSlotGeneration, address is not null ? generation : 0);
        Volatile.Write(ref _slotGeneration, holdsSlot ? generation : 0);
        return generation;
    }

    /// <summary>Under the user's lock: hands lease <paramref name="generation"/> a per-user slot (a pledge fulfilled).</summary>
    internal void GiveSlot(long generation)
    {
        if (IsCurrent(generation))
        {
            Volatile.Write(ref _slotGeneration, generation);
        }
    }

    /// <summary>Under the user's lock: gives up the node-count place of lease <paramref name="generation"/>; true only for the one caller that took it.</summary>
    internal bool TryTakeNodeSlot(long generation) => TakeLocked(ref _nodeSlotGeneration, generation);

    /// <summary>Under the user's lock: gives up the address-count place of lease <paramref name="generation"/>; true only for the one caller that took it.</summary>
    internal bool TryTakeAddressSlot(long generation) => TakeLocked(ref _addressSlotGeneration, generation);

    /// <summary>Marks the socket of the current lease as ended: no send, kick or eviction picks it any more.</summary>
    internal void MarkEnded() => _ended = true;

    /// <summary>
    /// Under the user's lock: gives up the counted slot of lease <paramref name="generation"/>; true only for the one
    /// caller that actually took it, so a double release is harmless and a late release can never free the slot of a
    /// later lease.
    /// </summary>
    internal bool TryTakeSlot(long generation) => TakeLocked(ref _slotGeneration, generation);

    /// <summary>
    /// Takes one of the lease's places. Every take (the ledger's <c>*Locked</c> methods, the audit's repair) and every
    /// other write of these fields (<see cref="BeginLease"/>, <see cref="GiveSlot"/>, the lease's end) runs under the
    /// lease's user lock, so a read and a write are as good as a compare-and-swap: the lock makes the pair atomic and
    /// the place is taken exactly once. The fields are also read without the lock (<see cref="HoldsSlot"/>), hence the
    /// volatile accesses.
    /// </summary>
    private bool TakeLocked(ref long place, long generation)
    {
        Debug.Assert(Entry is null || Monitor.IsEntered(Entry), "A lease's places are taken under its user's lock.");
        if (generation == 0 || Volatile.Read(ref place) != generation)
        {
            return false;
        }

        Volatile.Write(ref place, 0);
        return true;
    }

    /// <summary>
    /// The id of the current lease, formatted on first use (an admission that is refused never pays for the string).
    /// Cached under the lock together with the number it was made from, so a late caller from an ended lease can never
    /// leave its id behind for the next one.
    /// </summary>
    internal string GetConnectionId()
    {
        lock (this)
        {
            if (_connectionId is null || _connectionIdNumber != _number)
            {
                _connectionId = _factory.FormatConnectionId(_number);
                _connectionIdNumber = _number;
            }

            return _connectionId;
        }
    }

    internal void MarkConnected(long timestamp, DateTimeOffset now)
    {
        _connectedTimestamp = timestamp;
        _connectedAt = now;
        _lastReceivedTimestamp = 0;
    }

    /// <summary>Starts the closing handshake once per lease; later calls are ignored.</summary>
    internal bool RequestClose(long generation, int closeCode, string? description, DisconnectReason reason, bool discardPending)
    {
        Channel<Outbound>? queue;
        HeldSession? held;
        lock (this)
        {
            if (_generation != generation || _closeRequested == 1)
            {
                return false;
            }

            held = _held;
            _closeRequested = 1;
            _closeCode = closeCode;
            _closeDescription = description;
            _reason ??= reason;
            if (discardPending)
            {
                _discardPending = true;
            }

            // Once the socket is accepted the close frame goes through the writer, or, when nothing was ever sent, from a
            // task of its own (no queue is made for it); before that, the run closes at once when it starts.
            queue = _queue;
            if (queue is null)
            {
                StartCloseWithoutQueueLocked();
            }
        }

        // A held session has no socket to close: it ends now, through the release path.
        EndHeldOnClose(held);
        if (queue is null)
        {
            return true;
        }

        CompleteQueue(queue);
        if (discardPending)
        {
            // A stuck send holds the writer; the close frame waits behind it for at most one send timeout.
            ArmDeadline(_factory.Options.SendTimeout);
        }

        return true;
    }

    internal void Abort(long generation, DisconnectReason reason)
    {
        WebSocket? socket;
        lock (this)
        {
            if (_generation != generation)
            {
                return;
            }

            _reason ??= reason;
            socket = _socket;
        }

        if (socket is not null)
        {
            AbortQuietly(socket);
        }
    }

    internal void AbortCurrent(DisconnectReason reason) => Abort(Generation, reason);

    private void OnRequestAborted()
    {
        // A socket that aborted itself (.NET's keep-alive timeout ends the request too) is classified by its receive loop.
        if (Volatile.Read(ref _socket) is { State: WebSocketState.Aborted })
        {
            return;
        }

        AbortCurrent(DisconnectReason.Aborted);
    }

    private void SetReason(DisconnectReason reason)
    {
        lock (this)
        {
            _reason ??= reason;
        }
    }

    /// <summary>
    /// Under the user's lock: asks lease <paramref name="generation"/> to close while it is still in its handshake (no
    /// socket yet), as <see cref="RequestClose"/> does; its run closes with this code as soon as it starts. Returns false
    /// with <paramref name="hasSocket"/> set once the socket has been accepted (the caller then closes it as an open
    /// connection through <see cref="RequestClose"/>), and false when the lease has ended or its close was asked for
    /// already. Because every such request is made under the user's lock, a lease that never had a socket can end under
    /// that lock alone (<see cref="EndLeaseWithoutSocket"/>).
    /// </summary>
    internal bool RequestCloseInHandshake(long generation, int closeCode, string? description, DisconnectReason reason, out bool hasSocket)
    {
        lock (this)
        {
            // A resumable session held without a socket, or being taken up by a resume, is past its handshake: it is
            // closed the ordinary way (RequestClose), which ends a held session.
            hasSocket = _socket is not null || _queue is not null || _held is not null;
            if (hasSocket || _generation != generation || _closeRequested == 1)
            {
                return false;
            }

            _closeRequested = 1;
            _closeCode = closeCode;
            _closeDescription = description;
            _reason ??= reason;
            return true;
        }
    }

    /// <summary>Ends the lease: wipes every trace of the connection, keeps the user key only while warm.</summary>
    internal void EndLease()
    {
        lock (this)
        {
            Wipe();
        }
    }

    /// <summary>
    /// Under the user's lock, for a lease that never had a socket (an admission abandoned before the upgrade): the same
    /// wipe as <see cref="EndLease"/> without the manager's lock. Nothing else can be inside that lock for such a lease:
    /// every handle, registration, timer and group join comes with the socket, and the one request another thread makes
    /// of a lease in its handshake, a kick's close, is made under the user's lock (<see cref="RequestCloseInHandshake"/>).
    /// </summary>
    internal void EndLeaseWithoutSocket()
    {
        Debug.Assert(!HadSocket, "A lease that had a socket ends under the manager's lock.");

        // No fence either: such a lease has no reader outside the user's lock, held here, but the admission's owner, which
        // is the thread ending it. The lock's release publishes the whole wipe to the next holder.
        Wipe(fenced: false);
    }

    /// <summary>Every trace of the lease, its generation first: no handle of it matches from here on.</summary>
    private void Wipe(bool fenced = true)
    {
        // Atomic although it has one writer at a time (as in BeginLease): the plain writes below must not become visible
        // before the new generation to a reader without a lock that checks the generation after reading them, and a
        // release write would not keep later writes after it. The increment is a full fence.
        if (fenced)
        {
            Interlocked.Increment(ref _generation);
        }
        else
        {
            Volatile.Write(ref _generation, _generation + 1);
        }

        Volatile.Write(ref _slotGeneration, 0);
        Volatile.Write(ref _nodeSlotGeneration, 0);
        Volatile.Write(ref _addressSlotGeneration, 0);
        Address = null;
        PledgeVictim = null;
        PledgeVictimGeneration = 0;
        PledgeVictimConnectionId = null;
        PledgedTo = null;
        PledgedToGeneration = 0;
        GateVictim = null;
        _socket = null;
        _queue = null;
        _writer = null;
        _givenBackWriter = null;
        _queueUsed = false;
        _writerStop = null;
        _resume = null;
        _held = null;
        ReleaseHeldWaiterLocked();
        _connectionId = null;
        _number = 0;
        _items = null;
        _httpContext = null;
        _scope = null;
        _scopeEnded = false;
        _groups?.Clear();
        _connectedAt = default;
        _connectedTimestamp = 0;
        _lastReceivedTimestamp = 0;
        _handle = default;
        _closeRequested = 0;
        _closeCode = 0;
        _closeDescription = null;
        _discardPending = false;
        _reason = null;
        _deadlineGeneration = 0;
        _assemblyDue = 0;
        _authenticationDue = 0;
    }

    /// <summary>Wipes what a warm manager still remembers (its user) before it joins the shared pool.</summary>
    /// <returns><see langword="true"/>: a reset manager can always be reused.</returns>
    public bool TryReset()
    {
        EndLeaseIfNeeded();
        _userKey = null;
        Entry = null;
        WarmSince = 0;
        return true;
    }

    private void EndLeaseIfNeeded()
    {
        if (_queue is not null || _socket is not null || _resume is not null || _httpContext is not null || _connectionId is not null || Volatile.Read(ref _slotGeneration) != 0
            || Volatile.Read(ref _nodeSlotGeneration) != 0 || Volatile.Read(ref _addressSlotGeneration) != 0)
        {
            EndLease();
        }
    }
}

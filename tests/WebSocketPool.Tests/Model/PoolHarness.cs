// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using WebSocketPool.Internal;

namespace WebSocketPool.Tests.Model;

/// <summary>
/// The real factory and managers, driven through the same paths the middleware uses: <c>TryAdmit</c>, <c>Abandon</c>,
/// <c>RunAsync</c> over a real (in-memory) WebSocket, a client close or a vanished client, <c>DisconnectUser</c>,
/// <c>BeginDrain</c> and <c>Audit</c>. Each operation returns only once its effect is complete (a socket it closes has
/// ended), so that it can be linearized against <see cref="PoolModel"/>. It checks the invariants on every step: a
/// user's count never above the limit, the node's count never above the cap, an address's count never above its limit,
/// none ever negative, and the audit (which also proves the address counts) never finds a mismatch.
/// </summary>
internal sealed class PoolHarness
{
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(20);

    private readonly object _sync = new();

    // A kick frees the user's slots at once and the sockets' places in the node's count as they finish closing, a state
    // the model (which ends them at once) cannot show: kicks and drains run alone, every other operation alongside.
    private readonly ReaderWriterLockSlim _exclusive = new(LockRecursionPolicy.NoRecursion);
    private readonly List<Lease> _live = [];

    // Per user: admissions between their reservation and their record in _live (under _sync).
    private readonly Dictionary<int, int> _admitting = [];
    private readonly List<Lease> _ended = [];
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _trace = new();
    private readonly PoolModelConfig _config;
    private readonly WebSocketHandler _handler = new NoOpWebSocketHandler();

    public PoolHarness(PoolModelConfig config, IMeterFactory meters)
    {
        _config = config;
        var options = new WebSocketPoolOptions
        {
            MaxConnectionsPerUser = config.LimitPerUser,
            MaxConnections = config.MaxConnections,
            MaxConnectionsPerIP = config.LimitPerAddress,
            OverflowPolicy = config.EvictOldest ? OverflowPolicy.EvictOldest : OverflowPolicy.Reject,
            KeepAliveInterval = TimeSpan.Zero,
            AuditInterval = TimeSpan.Zero,
        };

        // A clock that never moves: every connection is equally silent, so EvictOldest picks the first in admission order,
        // as the model does; deadlines never fire (every close is answered).
        Factory = new PooledWebSocketManagerFactory(Options.Create(options), new FakeTimeProvider(), new WebSocketPoolMetrics(meters));
    }

    public PooledWebSocketManagerFactory Factory { get; }

    public static string UserKey(int user) => "user-" + user.ToString(CultureInfo.InvariantCulture);

    /// <summary>The client address of index <paramref name="address"/>: 127.0.0.1, 127.0.0.2, ...</summary>
    public static IPAddress Address(int address) => new([127, 0, 0, (byte)(address + 1)]);

    public void Admit(int user, int address)
    {
        _exclusive.EnterReadLock();
        lock (_sync)
        {
            // Until its lease is recorded, the user's claiming operations wait: a reservation the factory already counts
            // (refusing another admission) must not be missing from the handshakes an accept can take.
            _admitting[user] = _admitting.GetValueOrDefault(user) + 1;
        }

        try
        {
            var admission = Factory.TryAdmit(UserKey(user), Address(address));
            _trace.Enqueue($"admit u{user} a{address}: {admission.RejectionReason ?? "admitted #" + admission.Manager!.Number.ToString(CultureInfo.InvariantCulture)}");
            lock (_sync)
            {
                if (admission.IsAdmitted)
                {
                    _live.Add(new Lease(user, admission));
                }

                _admitting[user]--;
            }

            AssertLimits(user);
        }
        finally
        {
            _exclusive.ExitReadLock();
        }
    }

    public void Abandon(int user)
    {
        _exclusive.EnterReadLock();
        try
        {
            if (Claim(user, LeaseState.Handshake) is { } lease)
            {
                _trace.Enqueue($"abandon u{user} #{lease.Number}");
                Factory.Abandon(lease.Admission);
                Finish(lease);
                AssertLimits(user);
            }
        }
        finally
        {
            _exclusive.ExitReadLock();
        }
    }

    public void Accept(int user)
    {
        _exclusive.EnterReadLock();
        try
        {
            if (Claim(user, LeaseState.Handshake) is not { } lease)
            {
                return;
            }

            _trace.Enqueue($"accept u{user} #{lease.Number}");
            lease.Pair = new InMemoryWebSocketPair();
            lease.Handle = new WebSocketConnection(lease.Admission.Manager!, lease.Admission.Generation, lease.Admission.Manager!.GetConnectionId(), UserKey(user));
            lease.Run = lease.Admission.Manager!.RunAsync(lease.Pair.Server, _handler, CancellationToken.None);

            // Still claimed while the accept takes effect (a kicked handshake closing, a victim evicted), so no other
            // operation on the user sees it half done.
            WaitUntil(() => lease.Run.IsCompleted || lease.Handle.Value.IsActive, user);
            WaitQuiet(user);
            Release(lease, LeaseState.Running);
            AssertLimits(user);
        }
        finally
        {
            _exclusive.ExitReadLock();
        }
    }

    public void Close(int user) => EndOpen(user, static pair => pair.CloseFromClient());

    public void Drop(int user) => EndOpen(user, static pair => pair.Drop());

    public void Kick(int user)
    {
        _exclusive.EnterWriteLock();
        try
        {
            Factory.DisconnectUser(UserKey(user));
            AssertLimits(user);
            WaitQuiet(user);
        }
        finally
        {
            _exclusive.ExitWriteLock();
        }
    }

    public void Drain()
    {
        _exclusive.EnterWriteLock();
        try
        {
            Factory.BeginDrain();
            for (var u = 0; u < _config.Users; u++)
            {
                WaitQuiet(u);
            }
        }
        finally
        {
            _exclusive.ExitWriteLock();
        }
    }

    public void Audit()
    {
        _exclusive.EnterReadLock();
        try
        {
            var result = Factory.Audit();
            if (result.Mismatches != 0)
            {
                throw new InvalidOperationException($"The self-audit found {result.Mismatches} mismatches: {this}");
            }
        }
        finally
        {
            _exclusive.ExitReadLock();
        }
    }

    /// <summary>Compares with the model once everything has settled, and proves that no ended lease reaches a live one.</summary>
    public bool Matches(PoolModel model)
    {
        for (var u = 0; u < _config.Users; u++)
        {
            WaitQuiet(u);
        }

        var ok = Factory.ActiveConnections == model.Active;
        for (var a = 0; a < _config.Addresses; a++)
        {
            ok &= Factory.GetAddressConnectionCount(Address(a)) == model.AddressCount(a);
        }

        for (var u = 0; u < _config.Users; u++)
        {
            ok &= Factory.GetConnectionCount(UserKey(u)) == model.Count(u)
                && CountOf(u, LeaseState.Running) == model.Open(u)
                && CountOf(u, LeaseState.Handshake) == model.Handshakes(u)
                && Factory.GetConnections(UserKey(u)).Count == model.Open(u);
        }

        List<Lease> ended;
        lock (_sync)
        {
            ended = [.. _ended];
        }

        foreach (var lease in ended.Where(l => l.Handle is not null))
        {
            var handle = lease.Handle!.Value;
            ok &= handle.Send(new byte[] { 1 }, WebSocketMessageType.Binary) == SendResult.StaleHandle
                && !Factory.DisconnectConnection(handle.ConnectionId)
                && !handle.IsActive;
        }

        return ok;
    }

    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"{_config} active={Factory.ActiveConnections} draining={Factory.IsDraining}");
        for (var u = 0; u < _config.Users; u++)
        {
            text.Append(CultureInfo.InvariantCulture,
                $" | u{u}: count={Factory.GetConnectionCount(UserKey(u))} open={CountOf(u, LeaseState.Running)} handshakes={CountOf(u, LeaseState.Handshake)}");
        }

        for (var a = 0; a < _config.Addresses; a++)
        {
            text.Append(CultureInfo.InvariantCulture, $" | a{a}: count={Factory.GetAddressConnectionCount(Address(a))}");
        }

        text.Append(" trace: ").AppendJoin("; ", _trace);
        return text.ToString();
    }

    private void EndOpen(int user, Action<InMemoryWebSocketPair> end)
    {
        _exclusive.EnterReadLock();
        try
        {
            if (Claim(user, LeaseState.Running) is not { } lease)
            {
                return;
            }

            _trace.Enqueue($"end u{user} #{lease.Number}");
            end(lease.Pair!);
            if (!lease.Run!.Wait(s_deadline))
            {
                throw new TimeoutException($"A connection of {UserKey(user)} did not end within {s_deadline}: {this}");
            }

            Finish(lease);
            WaitQuiet(user);
            AssertLimits(user);
        }
        finally
        {
            _exclusive.ExitReadLock();
        }
    }

    /// <summary>
    /// Takes the first lease of the user in the given state (admission order) for this operation alone. It first waits
    /// for the user's other claiming operations to finish, so that a lease another operation holds is never seen half
    /// way (taken from the handshakes but not yet among the open connections), and for the user's admissions in flight to
    /// be recorded (reserved in the factory but not yet among the handshakes): each operation then takes effect at one
    /// point, as linearizability requires. Operations that claim nothing (admit, kick, drain, audit) still run alongside.
    /// </summary>
    private Lease? Claim(int user, LeaseState state)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            lock (_sync)
            {
                if (_admitting.GetValueOrDefault(user) == 0 && !_live.Any(l => l.User == user && l.State == LeaseState.Claimed))
                {
                    return ClaimFirst(user, state);
                }
            }

            if (clock.Elapsed > s_deadline)
            {
                throw new TimeoutException($"Another operation on {UserKey(user)} held its lease for over {s_deadline}: {this}");
            }

            Thread.Yield();
        }
    }

    /// <summary>Under the lock: <see cref="Claim"/> once no other operation holds a lease of the user.</summary>
    private Lease? ClaimFirst(int user, LeaseState state)
    {
        Retire();
        Lease? first = null;
        foreach (var lease in _live)
        {
            if (lease.User == user && lease.State == state && (state != LeaseState.Running || lease.Handle!.Value.IsActive)
                && (first is null || lease.Number < first.Number))
            {
                first = lease;
            }
        }

        if (first is not null)
        {
            first.State = LeaseState.Claimed;
        }

        return first;
    }

    private void Release(Lease lease, LeaseState state)
    {
        lock (_sync)
        {
            lease.State = state;
        }
    }

    private void Finish(Lease lease)
    {
        lock (_sync)
        {
            lease.State = LeaseState.Ended;
            _live.Remove(lease);
            _ended.Add(lease);
        }
    }

    /// <summary>Under the lock: moves connections whose run has completed (kicked, evicted, drained) to the ended list.</summary>
    private void Retire()
    {
        for (var i = _live.Count - 1; i >= 0; i--)
        {
            var lease = _live[i];
            if (lease.State == LeaseState.Running && lease.Run!.IsCompleted)
            {
                lease.State = LeaseState.Ended;
                _live.RemoveAt(i);
                _ended.Add(lease);
            }
        }
    }

    private void WaitUntil(Func<bool> condition, int user)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > s_deadline)
            {
                throw new TimeoutException($"A connection of {UserKey(user)} did not settle within {s_deadline}: {this}");
            }

            Thread.Yield();
        }
    }

    /// <summary>Waits until no connection of the user is closing: each has ended, or is open and not closing.</summary>
    private void WaitQuiet(int user)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            lock (_sync)
            {
                Retire();
                if (_live.All(l => l.User != user || l.State != LeaseState.Running || l.Handle!.Value.IsActive))
                {
                    return;
                }
            }

            if (clock.Elapsed > s_deadline)
            {
                throw new TimeoutException($"Connections of {UserKey(user)} were still closing after {s_deadline}: {this}");
            }

            Thread.Yield();
        }
    }

    private int CountOf(int user, LeaseState state)
    {
        lock (_sync)
        {
            Retire();
            return _live.Count(l => l.User == user && l.State == state);
        }
    }

    private void AssertLimits(int user)
    {
        var count = Factory.GetConnectionCount(UserKey(user));
        var active = Factory.ActiveConnections;

        // The node's count as the cap sees it: the leases' places and the places users keep for their next lease.
        var taken = Factory.NodePlacesTaken;
        if (count < 0 || count > _config.LimitPerUser || active < 0 || active > _config.MaxConnections || taken < 0 || taken > _config.MaxConnections)
        {
            throw new InvalidOperationException(
                $"Limits broken: {UserKey(user)} holds {count} of {_config.LimitPerUser}, the node {active} of {_config.MaxConnections} ({taken} places taken).");
        }

        for (var a = 0; a < _config.Addresses; a++)
        {
            var addressCount = Factory.GetAddressConnectionCount(Address(a));
            if (addressCount < 0 || (_config.LimitPerAddress > 0 && addressCount > _config.LimitPerAddress))
            {
                throw new InvalidOperationException($"Limits broken: address {Address(a)} holds {addressCount} of {_config.LimitPerAddress}.");
            }
        }
    }

    /// <summary>
    /// Ends every lease still live (handshakes abandoned, open connections closed by the client) and waits until none is
    /// left: what any sequence of operations must come back from with nothing counted anywhere.
    /// </summary>
    public void EndEverything()
    {
        for (var u = 0; u < _config.Users; u++)
        {
            WaitQuiet(u);
            for (var i = 0; i < 100 && (CountOf(u, LeaseState.Handshake) > 0 || CountOf(u, LeaseState.Running) > 0); i++)
            {
                Abandon(u);
                Close(u);
                WaitQuiet(u);
            }
        }
    }

    private enum LeaseState
    {
        Handshake,
        Claimed,
        Running,
        Ended,
    }

    private sealed class Lease(int user, WebSocketAdmission admission)
    {
        public int User { get; } = user;

        public WebSocketAdmission Admission { get; } = admission;

        /// <summary>The connection number: leases of one user are numbered in admission order.</summary>
        public long Number { get; } = admission.Manager!.Number;

        public LeaseState State { get; set; } = LeaseState.Handshake;

        public InMemoryWebSocketPair? Pair { get; set; }

        public WebSocketConnection? Handle { get; set; }

        public Task? Run { get; set; }
    }
}

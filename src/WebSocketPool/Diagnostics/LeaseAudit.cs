// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using Microsoft.Extensions.Logging;

namespace WebSocketPool.Internal;

/// <summary>
/// The self-audit: proves the counters against the sockets and repairs what drifted. It never depends on timing for
/// correctness; it is the safety net under a release that is structural already.
/// </summary>
internal sealed class LeaseAudit(
    TimeProvider timeProvider,
    UserTable users,
    AddressTable addresses,
    ConnectionRegistry registry,
    SlotLedger ledger,
    AdmissionGateLink gate,
    WebSocketPoolMetrics metrics,
    ILogger logger)
{
    private readonly WebSocketPoolMetrics _metrics = metrics;
    private readonly ILogger _logger = logger;

    /// <summary>
    /// How long a suspect must stay one before it is repaired. A release in flight takes microseconds (the socket has
    /// ended; its run's <c>finally</c> is about to release), so audits run back to back must not take it for a stuck one.
    /// </summary>
    private static readonly TimeSpan s_suspectGrace = TimeSpan.FromSeconds(1);

    // Each suspect with the timestamp of its first sighting.
    private Dictionary<(IsolatedWebSocketManager, long), long> _suspects = [];

    /// <summary>
    /// Proves the counters against the sockets: every counted lease has a live socket (or a handshake in progress), every
    /// live socket a lease, every user's count equals the slots its leases hold, the node's count the places its leases
    /// hold (open, handshaking and closing sockets), and every client address's count the places its leases hold. A mismatch is repaired at once; a lease whose socket is
    /// already dead is repaired when a later audit, at least a second on, still finds it. A repair never overwrites a
    /// concurrent admission.
    /// </summary>
    public AuditResult Run()
    {
        var mismatches = 0;
        var repaired = 0;
        var suspects = new Dictionary<(IsolatedWebSocketManager, long), long>();
        var now = timeProvider.GetTimestamp();

        // Open sockets that count against nothing, and are not closing after a kick or eviction, escape every limit.
        // An accepted socket takes over its pledged slot an instant after it is registered, so only a second sighting
        // is a mismatch.
        foreach (var (_, manager) in registry.Open)
        {
            var generation = manager.Generation;
            if (!manager.HoldsSlot && manager.IsOpenForSend && manager.IsCurrent(generation) && manager.SocketState == WebSocketState.Open)
            {
                if (!IsConfirmed((manager, generation), now, suspects))
                {
                    continue;
                }

                mismatches++;
                manager.RequestClose(generation, WebSocketCloseCodes.InternalError, "Connection lost its lease.", DisconnectReason.Aborted, discardPending: true);
                repaired++;
            }
        }

        // Hold every user's lock at once: the node's count changes only under a user's lock, so it stands still for
        // every user locked here; a user added meanwhile is detected below and the node's count then left alone.
        var locked = new HashSet<UserEntry>(users.Count, ReferenceEqualityComparer.Instance);
        var gateReleases = new List<(string User, long Number)>();
        var addressPlaces = new Dictionary<AddressEntry, int>(ReferenceEqualityComparer.Instance);
        try
        {
            foreach (var (_, entry) in users.Entries)
            {
                Monitor.Enter(entry);
                locked.Add(entry);
            }

            var sum = 0;
            foreach (var entry in locked)
            {
                if (entry.Removed)
                {
                    continue;
                }

                var (held, places, fixes) = AuditUser(entry, now, suspects, gateReleases, addressPlaces);
                mismatches += fixes;
                repaired += fixes;
                if (entry.Count != held)
                {
                    mismatches++;
                    repaired++;
                    users.Shared?.Adjust(entry.UserKey, held - entry.Count);
                    entry.Count = held;
                    users.UpdateNearLimit(entry);
                }

                sum += places;
            }

            // Read the node's count only now, then make sure every user that could have changed it was locked: a
            // change after this read makes the compare-and-swap below fail, so a concurrent admission is never lost.
            var observed = users.Taken;
            if (EveryUserLocked(locked) && sum != observed && users.TryRepairActive(sum, observed))
            {
                mismatches++;
                repaired++;
            }

            var fixedAddresses = AuditAddresses(locked, addressPlaces);
            mismatches += fixedAddresses;
            repaired += fixedAddresses;
        }
        finally
        {
            foreach (var entry in locked)
            {
                Monitor.Exit(entry);
            }
        }

        foreach (var (user, number) in gateReleases)
        {
            gate.Release(user, number);
        }

        _suspects = suspects;
        if (mismatches > 0)
        {
            SafeDiagnostics.Run(static (self, state) =>
            {
                self._metrics.AuditMismatches(state.mismatches);
                PoolLog.AuditMismatch(self._logger, state.mismatches, state.repaired);
            }, this, (mismatches, repaired));
        }

        return new AuditResult(mismatches, repaired, mismatches - repaired);
    }

    /// <summary>True when every user entry in the table is among <paramref name="locked"/>: no admission can run meanwhile.</summary>
    private bool EveryUserLocked(HashSet<UserEntry> locked)
    {
        foreach (var (_, entry) in users.Entries)
        {
            if (!locked.Contains(entry))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Under every user's lock: compares each client address's count with the places its leases hold, and repairs it.
    /// Every address is locked first, then the users are checked to be all locked: an address's count changes only under
    /// a user's lock and its own, so a user that joined after the count of places began is noticed and nothing is touched.
    /// </summary>
    private int AuditAddresses(HashSet<UserEntry> locked, Dictionary<AddressEntry, int> places)
    {
        if (!addresses.IsEnabled)
        {
            return 0;
        }

        var fixes = 0;
        var lockedAddresses = new List<AddressEntry>(addresses.Count);
        try
        {
            foreach (var (_, address) in addresses.Entries)
            {
                Monitor.Enter(address);
                lockedAddresses.Add(address);
            }

            if (!EveryUserLocked(locked))
            {
                return 0;
            }

            foreach (var address in lockedAddresses)
            {
                var held = places.GetValueOrDefault(address);
                if (!address.Removed && address.Count != held)
                {
                    fixes++;
                    address.Count = held;
                    addresses.TryRemove(address);
                }
            }
        }
        finally
        {
            foreach (var address in lockedAddresses)
            {
                Monitor.Exit(address);
            }
        }

        return fixes;
    }

    /// <summary>
    /// Under the user's lock: counts the per-user slots, node places and address places the user's leases hold,
    /// releasing those of a lease whose socket was already dead at the previous audit (its release path is stuck).
    /// </summary>
    private (int Held, int Places, int Fixes) AuditUser(
        UserEntry entry, long now, Dictionary<(IsolatedWebSocketManager, long), long> suspects, List<(string, long)> gateReleases,
        Dictionary<AddressEntry, int> addressPlaces)
    {
        var held = 0;
        var places = 0;
        var fixes = 0;
        foreach (var manager in entry.Active)
        {
            var generation = manager.Generation;
            if (!manager.HoldsSlot && !manager.HoldsNodeSlot && !manager.HoldsAddressSlot)
            {
                continue;
            }

            if (manager.SocketState is WebSocketState.Closed or WebSocketState.Aborted)
            {
                if (IsConfirmed((manager, generation), now, suspects))
                {
                    // Dead since an earlier audit and still counted: its release path is stuck.
                    fixes++;
                    var number = manager.Number;
                    if (ledger.ReleaseAllLocked(entry, manager, generation))
                    {
                        gateReleases.Add((entry.UserKey, number));
                    }

                    continue;
                }
            }

            held += manager.HoldsSlot ? 1 : 0;
            places += manager.HoldsNodeSlot ? 1 : 0;
            if (manager.Address is { } address && manager.HoldsAddressSlot)
            {
                addressPlaces[address] = addressPlaces.GetValueOrDefault(address) + 1;
            }
        }

        // A place the user keeps for its next lease is counted in the node's count too (UserTable.TryTakeNodePlace).
        places += Volatile.Read(ref entry.KeptNodePlace);
        return (held, places, fixes);
    }

    /// <summary>
    /// Notes a suspect; true when an earlier audit already saw it, at least <see cref="s_suspectGrace"/> ago, so it is
    /// a real mismatch and not a release still on its way.
    /// </summary>
    private bool IsConfirmed((IsolatedWebSocketManager, long) key, long now, Dictionary<(IsolatedWebSocketManager, long), long> suspects)
    {
        var firstSeen = _suspects.TryGetValue(key, out var seen) ? seen : now;
        suspects[key] = firstSeen;
        return _suspects.ContainsKey(key) && timeProvider.GetElapsedTime(firstSeen, now) >= s_suspectGrace;
    }

    /// <summary>Test hook: makes a user's count (and the node's) drift from the truth, as a lost release would.</summary>
    public void InjectCountDriftForTesting(string userKey, int delta)
    {
        var entry = users.GetOrAdd(userKey);
        lock (entry)
        {
            entry.Count += delta;
            users.Shared?.Adjust(entry.UserKey, delta);
            users.AddToActiveForTesting(delta);
        }
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using WebSocketPool.Internal;

namespace WebSocketPool;

public sealed partial class PooledWebSocketManagerFactory
{
    private HashSet<(IsolatedWebSocketManager, long)> _suspects = [];

    /// <summary>
    /// Proves the counters against the sockets: every counted lease has a live socket (or a handshake in progress), every
    /// live socket a lease, every user's count equals the leases it holds, and the node's count their sum. A mismatch is
    /// repaired at once; a lease whose socket is already dead is repaired when a second audit still finds it.
    /// </summary>
    internal AuditResult Audit()
    {
        var mismatches = 0;
        var repaired = 0;
        var suspects = new HashSet<(IsolatedWebSocketManager, long)>();

        // Open sockets that count against nothing, and are not closing after a kick or eviction, escape every limit.
        // An eviction hands the slot over an instant before the close starts, so only a second sighting is a mismatch.
        foreach (var manager in _connections.Values)
        {
            var generation = manager.Generation;
            if (!manager.HoldsSlot && manager.IsOpenForSend && manager.IsCurrent(generation) && manager.SocketState == WebSocketState.Open)
            {
                if (suspects.Add((manager, generation)) && !_suspects.Contains((manager, generation)))
                {
                    continue;
                }

                mismatches++;
                manager.RequestClose(generation, WebSocketCloseCodes.InternalError, "Connection lost its lease.", DisconnectReason.Aborted, discardPending: true);
                repaired++;
            }
        }

        // Hold every user's lock at once: the node's count changes only under a user's lock, so it stands still.
        var locked = new List<UserEntry>(_users.Count);
        try
        {
            foreach (var entry in _users.Values)
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

                var held = 0;
                foreach (var manager in entry.Active)
                {
                    if (!manager.HoldsSlot)
                    {
                        continue;
                    }

                    if (manager.SocketState is WebSocketState.Closed or WebSocketState.Aborted)
                    {
                        var key = (manager, manager.Generation);
                        if (_suspects.Contains(key))
                        {
                            // Dead for a whole audit period and still counted: its release path is stuck.
                            mismatches++;
                            repaired++;
                            var number = manager.Number;
                            if (manager.TryTakeSlot(manager.Generation))
                            {
                                ReleaseGate(entry.UserKey, number);
                            }

                            continue;
                        }

                        suspects.Add(key);
                    }

                    held++;
                }

                if (entry.Count != held)
                {
                    mismatches++;
                    repaired++;
                    entry.Count = held;
                    UpdateNearLimit(entry);
                }

                sum += held;
            }

            // Entries created while the locks were taken are not locked; their slots make the sum unreliable.
            var stable = _users.Count == locked.Count(e => !e.Removed);
            if (stable && sum != Volatile.Read(ref _active))
            {
                mismatches++;
                repaired++;
                Volatile.Write(ref _active, sum);
            }
        }
        finally
        {
            for (var i = locked.Count - 1; i >= 0; i--)
            {
                Monitor.Exit(locked[i]);
            }
        }

        _suspects = suspects;
        if (mismatches > 0)
        {
            Metrics.AuditMismatches(mismatches);
            AuditLog.Mismatch(_logger, mismatches, repaired);
        }

        return new AuditResult(mismatches, repaired, mismatches - repaired);
    }

    /// <summary>Test hook: makes a user's count (and the node's) drift from the truth, as a lost release would.</summary>
    internal void InjectCountDriftForTesting(string userKey, int delta)
    {
        var entry = _users.GetOrAdd(userKey, static key => new UserEntry(key));
        lock (entry)
        {
            entry.Count += delta;
            Interlocked.Add(ref _active, delta);
        }
    }

    private static partial class AuditLog
    {
        [Microsoft.Extensions.Logging.LoggerMessage(20, Microsoft.Extensions.Logging.LogLevel.Error,
            "Self-audit found {Mismatches} mismatches between counted leases and live sockets; repaired {Repaired}.", EventName = "AuditMismatch")]
        public static partial void Mismatch(Microsoft.Extensions.Logging.ILogger logger, int mismatches, int repaired);
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Logging;

namespace WebSocketPool.Internal;

/// <summary>
/// Kicks: closes a user's connections (including those still in their handshake, closed with the same code as soon as
/// they are accepted) or one connection, with a code the caller chose. The per-user slots are free when the call
/// returns; the sockets keep their place in the node's count until they have finished closing.
/// </summary>
internal sealed class ConnectionKicker(UserTable users, ConnectionRegistry registry, SlotLedger ledger, WebSocketPoolMetrics metrics, ILogger logger)
{
    private readonly WebSocketPoolMetrics _metrics = metrics;
    private readonly ILogger _logger = logger;

    public int DisconnectUser(string userKey, int closeCode, string? reason)
    {
        if (!users.TryGet(userKey, out var entry))
        {
            return 0;
        }

        List<(IsolatedWebSocketManager Manager, long Generation, bool? ClosedInHandshake)> closing;
        lock (entry)
        {
            closing = new(entry.Active.Count);
            foreach (var manager in entry.Active)
            {
                if (!manager.IsEnded)
                {
                    // A lease still in its handshake is asked to close here, under the user's lock: an abandoned admission
                    // ends under that lock alone (ManagerLeases.Return), so nothing may reach into it outside it.
                    var generation = manager.Generation;
                    var closedInHandshake = manager.RequestCloseInHandshake(generation, closeCode, reason, DisconnectReason.Kicked, out var hasSocket);
                    closing.Add((manager, generation, hasSocket ? null : closedInHandshake));
                }
            }
        }

        var closed = 0;
        foreach (var (manager, generation, closedInHandshake) in closing)
        {
            if (Kick(manager, generation, closeCode, reason, closedInHandshake))
            {
                closed++;
            }
        }

        return closed;
    }

    /// <summary>The lookup checks the connection number against the manager's current lease: a pooled manager reused for
    /// a later connection is never reached through an earlier connection's id.</summary>
    public bool DisconnectConnection(string connectionId, int closeCode, string? reason) =>
        registry.TryGetManager(connectionId, out var manager, out var generation) && Kick(manager, generation, closeCode, reason, closedInHandshake: null);

    // closedInHandshake: for a lease without a socket, whether its close was already asked for under the user's lock;
    // null for a lease with a socket (asked here).
    private bool Kick(IsolatedWebSocketManager manager, long generation, int closeCode, string? reason, bool? closedInHandshake)
    {
        if (!manager.IsCurrent(generation) || manager.IsEnded)
        {
            return false;
        }

        // Closing starts before the slot goes, so the socket is never seen open without a slot and not closing.
        var closed = closedInHandshake ?? manager.RequestClose(generation, closeCode, reason, DisconnectReason.Kicked, discardPending: false);
        ledger.ReleaseUserSlot(manager, generation);
        if (closed)
        {
            SafeDiagnostics.Run(static (self, state) =>
            {
                self._metrics.Kicked();
                PoolLog.Kicked(self._logger, state.manager.ConnectionId ?? string.Empty, state.closeCode);
            }, this, (manager, closeCode));
        }

        return closed;
    }
}

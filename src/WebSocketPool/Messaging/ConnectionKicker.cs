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

    /// <summary>The lookup checks the connection number against the manager's current lease: a pooled manager reused for
    /// a later connection is never reached through an earlier connection's id.</summary>
    public bool DisconnectConnection(string connectionId, int closeCode, string? reason) =>
        registry.TryGetManager(connectionId, out var manager, out var generation) && Kick(manager, generation, closeCode, reason);

    private bool Kick(IsolatedWebSocketManager manager, long generation, int closeCode, string? reason)
    {
        if (!manager.IsCurrent(generation) || manager.IsEnded)
        {
            return false;
        }

        // Closing starts before the slot goes, so the socket is never seen open without a slot and not closing.
        var closed = manager.RequestClose(generation, closeCode, reason, DisconnectReason.Kicked, discardPending: false);
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

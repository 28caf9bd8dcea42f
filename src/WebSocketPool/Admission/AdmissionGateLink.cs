// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Logging;

namespace WebSocketPool.Internal;

/// <summary>
/// The pool's side of <see cref="IWebSocketAdmissionGate"/>: tells the gate (if one is attached) of every slot given
/// up, exactly once per admitted id, and asks it to evict a victim it named once the newcomer is accepted. Never throws:
/// a gate's failure must not stop a release or cost the new connection.
/// </summary>
internal sealed class AdmissionGateLink(ConnectionRegistry registry, ILogger logger)
{
    private IWebSocketAdmissionGate? _gate;

    public bool IsAttached => Volatile.Read(ref _gate) is not null;

    /// <summary>The first gate attached stays.</summary>
    public void Attach(IWebSocketAdmissionGate gate) => Interlocked.CompareExchange(ref _gate, gate, null);

    /// <summary>The slot of connection <paramref name="number"/> was given up. May run under a user's lock.</summary>
    public void Release(string userKey, long number)
    {
        if (Volatile.Read(ref _gate) is not { } gate || number == 0)
        {
            return;
        }

        try
        {
            gate.Release(userKey, registry.FormatConnectionId(number));
        }
#pragma warning disable CA1031 // A gate's failure must never stop a release.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            SafeDiagnostics.Run(static (l, e) => PoolLog.GateReleaseFailed(l, e), logger, ex);
        }
    }

    /// <summary>The gate admitted <paramref name="connection"/> in place of another connection: evict that one now.</summary>
    public async ValueTask EvictAsync(WebSocketConnection connection, string victimConnectionId, CancellationToken cancellationToken)
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
            SafeDiagnostics.Run(static (l, e) => PoolLog.UnexpectedFailure(l, "admission gate's eviction", e), logger, ex);
        }
    }
}

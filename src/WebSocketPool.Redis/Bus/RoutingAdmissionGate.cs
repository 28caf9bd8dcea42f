// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Redis.Internal;

/// <summary>
/// The admission gate the pool sees: the cluster-wide lease gate (<see cref="RedisLeaseGate"/>), with the node's bus
/// interest and presence around it. Before the lease is asked for, the node subscribes to the user's channel (if it
/// does not hear it already), so by the time the connection exists anywhere in Redis, and long before it is reported
/// connected, a send or kick for that user reaches this node. When the slot is given up the reference goes; the node
/// stops hearing the user after their last connection here. Each admitted lease and each release is announced to
/// presence watchers.
/// </summary>
internal sealed class RoutingAdmissionGate(RedisLeaseGate leases, RedisBus bus, PresenceAnnouncer presence) : IWebSocketAdmissionGate
{
    public ValueTask<WebSocketGateDecision> AdmitAsync(string userKey, string connectionId, CancellationToken cancellationToken) =>
        AdmitCoreAsync(userKey, connectionId, null, cancellationToken);

    public ValueTask<WebSocketGateDecision> AdmitReplacingAsync(string userKey, string connectionId, string replacedConnectionId, CancellationToken cancellationToken) =>
        AdmitCoreAsync(userKey, connectionId, replacedConnectionId, cancellationToken);

    private async ValueTask<WebSocketGateDecision> AdmitCoreAsync(string userKey, string connectionId, string? replaced, CancellationToken cancellationToken)
    {
        // Not cancellable: the subscription is bounded by the operation timeout, and the pool releases the id either way.
        await bus.Interests.OpenAsync(connectionId, userKey).ConfigureAwait(false);
        var decision = replaced is null
            ? await leases.AdmitAsync(userKey, connectionId, cancellationToken).ConfigureAwait(false)
            : await leases.AdmitReplacingAsync(userKey, connectionId, replaced, cancellationToken).ConfigureAwait(false);
        if (decision.IsAdmitted)
        {
            bus.Interests.MarkAdmitted(connectionId);
            presence.Announce(userKey);
        }

        return decision;
    }

    public ValueTask<WebSocketGateDecision> PreviewAsync(string userKey, CancellationToken cancellationToken) =>
        leases.PreviewAsync(userKey, cancellationToken);

    public void Release(string userKey, string connectionId)
    {
        leases.Release(userKey, connectionId);
        if (bus.Interests.Close(connectionId))
        {
            presence.Announce(userKey);
        }
    }

    public ValueTask EvictAsync(string userKey, string connectionId, string victimConnectionId, CancellationToken cancellationToken) =>
        leases.EvictAsync(userKey, connectionId, victimConnectionId, cancellationToken);
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool;

/// <summary>
/// An admission check beyond this node, such as a per-user limit enforced across a cluster (<c>WebSocketPool.Redis</c>
/// registers one). When a gate is registered in DI, the middleware consults it after the node's own checks have
/// admitted a connection and reserved its slot, and still before the WebSocket upgrade; a refusal gives the slot back
/// and answers with the gate's status. At most one gate is used.
/// </summary>
/// <remarks>
/// Every call to <see cref="AdmitAsync"/> is followed, exactly once, by <see cref="Release"/> for the same connection id
/// when that slot is given up, whatever <see cref="AdmitAsync"/> answered, threw or was cancelled with: on close, abort,
/// kick, eviction, shutdown, a failed handshake or the gate's own refusal. <see cref="Release"/> may also be called for
/// ids the gate never saw (connections admitted without the middleware); ignore those.
/// </remarks>
public interface IWebSocketAdmissionGate
{
    /// <summary>Decides a connection the node has admitted; its slot is reserved while this runs.</summary>
    /// <param name="userKey">The user opening the connection.</param>
    /// <param name="connectionId">The id the connection will have (it starts with <see cref="PooledWebSocketManagerFactory.NodeId"/> and a '-').</param>
    /// <param name="cancellationToken">Signalled when the request is aborted.</param>
    /// <returns>The decision.</returns>
    ValueTask<WebSocketGateDecision> AdmitAsync(string userKey, string connectionId, CancellationToken cancellationToken);

    /// <summary>
    /// Decides a connection the node has admitted in place of one of the user's connections on this node
    /// (<see cref="OverflowPolicy.EvictOldest"/> at the node's own per-user limit): <paramref name="replacedConnectionId"/>
    /// is closed with 4001 once the new socket is accepted, and its slot passes to <paramref name="connectionId"/> then
    /// (the pool calls <see cref="Release"/> for it at that moment). A gate counting the user across nodes should count
    /// the replaced connection as gone for this decision, so that one newcomer never evicts a second connection. If the
    /// handshake fails instead, the replaced connection lives on and keeps its slot. The default calls <see cref="AdmitAsync"/>.
    /// </summary>
    /// <param name="userKey">The user opening the connection.</param>
    /// <param name="connectionId">The id the connection will have.</param>
    /// <param name="replacedConnectionId">The user's connection on this node that it replaces.</param>
    /// <param name="cancellationToken">Signalled when the request is aborted.</param>
    /// <returns>The decision.</returns>
    ValueTask<WebSocketGateDecision> AdmitReplacingAsync(string userKey, string connectionId, string replacedConnectionId, CancellationToken cancellationToken) =>
        AdmitAsync(userKey, connectionId, cancellationToken);

    /// <summary>
    /// Answers what <see cref="AdmitAsync"/> would decide now, reserving nothing; used by the non-upgrade preview of the
    /// pool's path after the node's own preview admitted.
    /// </summary>
    /// <param name="userKey">The user.</param>
    /// <param name="cancellationToken">Signalled when the request is aborted.</param>
    /// <returns>The decision; <see cref="WebSocketGateDecision.Current"/>, when set, replaces the node's own count in the answer.</returns>
    ValueTask<WebSocketGateDecision> PreviewAsync(string userKey, CancellationToken cancellationToken);

    /// <summary>
    /// The slot of <paramref name="connectionId"/> has been given up. Called on the releasing thread, possibly under the
    /// pool's internal locks: it must return at once, never block or wait for I/O, and should not throw.
    /// </summary>
    /// <param name="userKey">The user who held the slot.</param>
    /// <param name="connectionId">The connection id passed to <see cref="AdmitAsync"/>.</param>
    void Release(string userKey, string connectionId);

    /// <summary>
    /// The connection <paramref name="connectionId"/>, admitted by <see cref="AdmitAsync"/> in place of
    /// <paramref name="victimConnectionId"/> (<see cref="WebSocketGateDecision.AdmitReplacing"/>), has been accepted:
    /// close the victim now (4001), on whichever node holds it. Never called when the handshake failed, so a victim is
    /// never closed for a connection that did not happen. Must not throw; the default does nothing.
    /// </summary>
    /// <param name="userKey">The user.</param>
    /// <param name="connectionId">The accepted connection.</param>
    /// <param name="victimConnectionId">The connection it replaces.</param>
    /// <param name="cancellationToken">Signalled when the new connection's request is aborted.</param>
    /// <returns>A task that completes when the eviction has been sent.</returns>
    ValueTask EvictAsync(string userKey, string connectionId, string victimConnectionId, CancellationToken cancellationToken) => ValueTask.CompletedTask;
}

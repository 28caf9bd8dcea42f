// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using WebSocketPool.Internal;

namespace WebSocketPool.Redis.Internal;

/// <summary>
/// Cluster-wide per-user limit: admission takes a lease in Redis atomically before the upgrade (see
/// <see cref="RedisScripts"/> for the model), and the lease is deleted the moment its slot is given up. The node's
/// heartbeat (<see cref="NodeHeartbeat"/>) keeps its leases alive; a node that dies stops beating and its leases die
/// with its heartbeat within the TTL.
/// </summary>
/// <remarks>
/// The gate keeps its own table of the leases it admitted; the pool calls <see cref="Release"/> exactly once for each.
/// Calls a handshake waits for go through <see cref="RedisCommandGuard"/> (a timeout and a circuit breaker), so a slow
/// or absent Redis costs a handshake at most <see cref="RedisWebSocketPoolOptions.OperationTimeout"/>, and nothing while
/// the circuit is open.
/// </remarks>
internal sealed partial class RedisLeaseGate : IWebSocketAdmissionGate
{
    private static readonly TimeSpan s_retryAfter = TimeSpan.FromSeconds(5);

    private readonly LeaseTable _table;
    private readonly ReleaseQueue _releases;
    private readonly NodeHeartbeat _heartbeat;
    private readonly RedisCommandGuard _guard;
    private readonly RedisConnection _connection;
    private readonly RedisWebSocketSender _sender;
    private readonly RedisWebSocketPoolOptions _options;
    private readonly WebSocketPoolOptions _poolOptions;
    private readonly RedisWebSocketPoolMetrics _metrics;
    private readonly ILogger _logger;

    public RedisLeaseGate(
        LeaseTable table,
        ReleaseQueue releases,
        NodeHeartbeat heartbeat,
        RedisCommandGuard guard,
        RedisConnection connection,
        RedisWebSocketSender sender,
        IOptions<RedisWebSocketPoolOptions> options,
        IOptions<WebSocketPoolOptions> poolOptions,
        RedisWebSocketPoolMetrics metrics,
        ILogger<RedisLeaseGate> logger)
    {
        _table = table;
        _releases = releases;
        _heartbeat = heartbeat;
        _guard = guard;
        _connection = connection;
        _sender = sender;
        _options = options.Value;
        _poolOptions = poolOptions.Value;
        _metrics = metrics;
        _logger = logger;
        metrics.Observe(() => _table.Count, () => connection.IsAvailable && !guard.IsOpen);
    }

    /// <summary>Gets how many leases this node holds (admitted and not yet released).</summary>
    public int LeaseCount => _table.Count;

    /// <summary>Gets how many releases wait for Redis to come back.</summary>
    public int PendingReleaseCount => _releases.Count;

    public ValueTask<WebSocketGateDecision> AdmitAsync(string userKey, string connectionId, CancellationToken cancellationToken) =>
        AdmitCoreAsync(userKey, connectionId, null, cancellationToken);

    public ValueTask<WebSocketGateDecision> AdmitReplacingAsync(string userKey, string connectionId, string replacedConnectionId, CancellationToken cancellationToken) =>
        AdmitCoreAsync(userKey, connectionId, replacedConnectionId, cancellationToken);

    private async ValueTask<WebSocketGateDecision> AdmitCoreAsync(string userKey, string connectionId, string? replaced, CancellationToken cancellationToken)
    {
        var limit = _poolOptions.MaxConnectionsPerUser;

        // In the table before Redis is asked: whatever happens next (timeout, cancellation), the pool's release of this
        // id deletes the lease in Redis, so a script that lands late cannot leave a lease behind.
        var lease = new LocalLease(userKey) { ReplacedLocal = replaced };
        _table.Add(connectionId, lease);
        var evict = _poolOptions.OverflowPolicy == OverflowPolicy.EvictOldest ? 1 : 0;
        RedisValue[] args = [_connection.Keys.Tag, _connection.NodeId, connectionId, userKey, limit, evict, (long)_options.LeaseTtl.TotalMilliseconds,
            replaced ?? string.Empty];

        RedisResult[]? reply = null;
        for (var attempt = 0; attempt < 2; attempt++)
        {
            lease.SentToRedis = true;
            var result = await _guard.TryEvaluateAsync("admit", RedisScripts.Admit, args, cancellationToken).ConfigureAwait(false);
            if (result is null)
            {
                return Unavailable(lease, limit);
            }

            reply = (RedisResult[])result!;
            if ((int)reply[0] != -1)
            {
                break;
            }

            // This node's heartbeat is missing (first admission, or it lapsed): beat and recover first, then ask again.
            if (!await _heartbeat.BeatAsync(cancellationToken).ConfigureAwait(false))
            {
                return Unavailable(lease, limit);
            }
        }

        if ((int)reply![0] != 1)
        {
            _table.TryRemove(connectionId, lease);
            return (int)reply[0] == 0
                ? WebSocketGateDecision.Refuse(RejectionReasons.UserLimit, limit, (int)reply[1], s_retryAfter)
                : Unavailable(lease, limit);
        }

        lease.State = LeaseState.Registered;
        var count = (int)reply[1];
        if (reply.Length > 2 && !reply[2].IsNull)
        {
            // The victim is kicked once this connection's socket has been accepted (EvictAsync); its node also finds the
            // eviction queued at its next heartbeat. If the handshake fails instead, the release gives the victim its
            // lease back while its node has not acted on it yet.
            lease.HandedOverFrom = (string)reply[2]!;
            return WebSocketGateDecision.AdmitReplacing(count, lease.HandedOverFrom);
        }

        return WebSocketGateDecision.Admit(count);
    }

    public async ValueTask<WebSocketGateDecision> PreviewAsync(string userKey, CancellationToken cancellationToken)
    {
        var limit = _poolOptions.MaxConnectionsPerUser;
        var count = await CountAsync(userKey, cancellationToken).ConfigureAwait(false);
        if (count is null)
        {
            return _options.FailurePolicy == RedisFailurePolicy.FailClosed
                ? WebSocketGateDecision.Refuse(RejectionReasons.ClusterUnavailable, limit, 0, s_retryAfter)
                : WebSocketGateDecision.Admit();
        }

        return count >= limit && _poolOptions.OverflowPolicy == OverflowPolicy.Reject
            ? WebSocketGateDecision.Refuse(RejectionReasons.UserLimit, limit, count.Value, s_retryAfter)
            : WebSocketGateDecision.Admit(count);
    }

    public void Release(string userKey, string connectionId)
    {
        lock (_table.IssueLock)
        {
            if (!_table.TryRemove(connectionId, out var lease) || !lease.SentToRedis)
            {
                return;
            }

            _releases.Issue(new PendingRelease(userKey, connectionId, lease.HandedOverFrom));

            // Released while the connection it replaced is still open here (the handshake failed and the node withdrew
            // its pledge): that connection's lease was handed over in Redis, so it is admitted again at the next heartbeat.
            if (lease.ReplacedLocal is { } replaced && _table.TryGet(replaced, out var survivor) && survivor.State == LeaseState.Registered)
            {
                survivor.State = LeaseState.Unregistered;
            }
        }
    }

    /// <summary>The user's live leases across the cluster, or <see langword="null"/> when Redis does not answer.</summary>
    public async Task<int?> CountAsync(string userKey, CancellationToken cancellationToken)
    {
        var result = await _guard.TryEvaluateAsync("count", RedisScripts.Count, [_connection.Keys.Tag, userKey], cancellationToken).ConfigureAwait(false);
        return result is null ? null : (int)result;
    }

    /// <summary>At shutdown, after the pool drained: releases whatever is left, then stops the heartbeat in Redis.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        foreach (var (id, lease) in _table.All)
        {
            Release(lease.UserKey, id);
        }

        await _heartbeat.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    private WebSocketGateDecision Unavailable(LocalLease lease, int limit)
    {
        if (_options.FailurePolicy == RedisFailurePolicy.FailClosed)
        {
            // The lease stays in the table: the pool releases the refused slot, which deletes it in Redis too in case
            // the script landed after all.
            _metrics.FailClosedRefusal();
            return WebSocketGateDecision.Refuse(RejectionReasons.ClusterUnavailable, limit, 0, s_retryAfter);
        }

        // Admitted on node-local limits; the next heartbeat that reaches Redis admits it through the limit check.
        lease.State = LeaseState.Unregistered;
        _metrics.FailOpenAdmission();
        Log.FailOpen(_logger);
        return WebSocketGateDecision.Admit();
    }

    /// <summary>The oldest lease was handed over to a newcomer now accepted: close it with 4001 on whichever node holds it.</summary>
    public async ValueTask EvictAsync(string userKey, string connectionId, string victimId, CancellationToken cancellationToken)
    {
        if (_table.TryGet(connectionId, out var lease))
        {
            lease.HandedOverFrom = null;
        }

        _metrics.ClusterEviction();
        Log.ClusterEviction(_logger, victimId);

        // Closed at once on its node (here, or through that node's channel); the victim's node also finds the eviction
        // queued in Redis at its next heartbeat, in case this kick is lost.
        await _sender.DisconnectConnectionAsync(victimId, WebSocketCloseCodes.Evicted, CloseArguments.EvictedReason, cancellationToken).ConfigureAwait(false);
    }

    private static partial class Log
    {
        [LoggerMessage(211, LogLevel.Warning, "Redis unavailable: WebSocket admitted on node-local limits (fail-open).", EventName = "RedisFailOpenAdmission")]
        public static partial void FailOpen(ILogger logger);

        [LoggerMessage(212, LogLevel.Information, "Evicted lease {ConnectionId} cluster-wide (EvictOldest); its node closes it with 4001.", EventName = "RedisClusterEviction")]
        public static partial void ClusterEviction(ILogger logger, string connectionId);
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace WebSocketPool.Redis.Internal;

/// <summary>
/// Cluster-wide per-user limit. Admission takes a lease in Redis atomically before the upgrade (Lua over the user's
/// sorted set of lease ids scored by expiry); this node renews its live leases every third of the TTL and deletes a
/// lease the moment its slot is given up. A node that dies stops renewing and its leases expire within the TTL.
/// </summary>
/// <remarks>
/// The gate keeps its own table of the leases it admitted; the pool calls <see cref="Release"/> exactly once for each.
/// Renewal issues its commands under <see cref="_issueLock"/>, as does release, so a renewal can never re-add a lease
/// after its release reached Redis (both go, in order, over the same connection).
/// </remarks>
internal sealed partial class RedisLeaseGate : IWebSocketAdmissionGate
{
    private static readonly TimeSpan s_retryAfter = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<string, Lease> _leases = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<(string User, string Id, long Since)> _pendingReleases = new();
    private readonly Lock _issueLock = new();
    private readonly RedisConnection _connection;
    private readonly RedisBus _bus;
    private readonly PooledWebSocketManagerFactory _factory;
    private readonly RedisWebSocketPoolOptions _options;
    private readonly WebSocketPoolOptions _poolOptions;
    private readonly RedisWebSocketPoolMetrics _metrics;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly RedisValue _ttl;
    private int _renewing;

    public RedisLeaseGate(
        RedisConnection connection,
        RedisBus bus,
        PooledWebSocketManagerFactory factory,
        IOptions<RedisWebSocketPoolOptions> options,
        IOptions<WebSocketPoolOptions> poolOptions,
        RedisWebSocketPoolMetrics metrics,
        TimeProvider timeProvider,
        ILogger<RedisLeaseGate> logger)
    {
        _connection = connection;
        _bus = bus;
        _factory = factory;
        _options = options.Value;
        _poolOptions = poolOptions.Value;
        _metrics = metrics;
        _timeProvider = timeProvider;
        _logger = logger;
        _ttl = (long)_options.LeaseTtl.TotalMilliseconds;
        metrics.Observe(() => _leases.Count, () => connection.IsAvailable);
    }

    /// <summary>Gets how many leases this node holds (admitted and not yet released).</summary>
    public int LeaseCount => _leases.Count;

    /// <summary>Gets how many releases wait for Redis to come back.</summary>
    public int PendingReleaseCount => _pendingReleases.Count;

    public async ValueTask<WebSocketGateDecision> AdmitAsync(string userKey, string connectionId, CancellationToken cancellationToken)
    {
        var limit = _poolOptions.MaxConnectionsPerUser;

        // In the table before Redis is asked: whatever happens next (timeout, cancellation), the pool's release of this
        // id deletes the lease in Redis, so a script that lands late cannot leave a lease behind.
        var lease = new Lease(userKey);
        _leases[connectionId] = lease;
        if (!_connection.TryGetDatabase(out var database))
        {
            return Unavailable(lease, limit, null);
        }

        RedisResult[] reply;
        try
        {
            var evict = _poolOptions.OverflowPolicy == OverflowPolicy.EvictOldest ? 1 : 0;
            var result = await database.ScriptEvaluateAsync(RedisScripts.Admit, _connection.Keys.UserKeys(userKey),
                    [connectionId, _ttl, limit, evict, userKey])
                .WaitAsync(_options.OperationTimeout, _timeProvider, cancellationToken).ConfigureAwait(false);
            reply = (RedisResult[])result!;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return Unavailable(lease, limit, ex);
        }

        _connection.MarkAvailable();
        var count = (int)reply[1];
        if ((int)reply[0] == 0)
        {
            _leases.TryRemove(new KeyValuePair<string, Lease>(connectionId, lease));
            return WebSocketGateDecision.Refuse(RejectionReasons.UserLimit, limit, count, s_retryAfter);
        }

        lease.Renew = true;
        if (reply.Length > 2 && !reply[2].IsNull)
        {
            // The victim is closed only once this connection's socket has been accepted (EvictAsync). If the handshake
            // fails instead, the victim lives on; its lease, handed over in Redis, is re-added by its node's next renewal.
            return WebSocketGateDecision.AdmitReplacing(count, (string)reply[2]!);
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
        if (!_leases.TryRemove(connectionId, out _))
        {
            return;
        }

        lock (_issueLock)
        {
            IssueRelease(userKey, connectionId);
        }
    }

    /// <summary>The user's live leases across the cluster, or <see langword="null"/> when Redis does not answer.</summary>
    public async Task<int?> CountAsync(string userKey, CancellationToken cancellationToken)
    {
        if (!_connection.TryGetDatabase(out var database))
        {
            return null;
        }

        try
        {
            var result = await database.ScriptEvaluateAsync(RedisScripts.Count, _connection.Keys.UserKeys(userKey), [userKey])
                .WaitAsync(_options.OperationTimeout, _timeProvider, cancellationToken).ConfigureAwait(false);
            _connection.MarkAvailable();
            return (int)result;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            _connection.MarkFailed("count", ex);
            return null;
        }
    }

    /// <summary>
    /// Renews this node's live leases (re-adding those Redis lost) and retries releases that failed. Runs every third
    /// of the TTL and when the connection is restored; overlapping calls are skipped.
    /// </summary>
    public async Task RenewAsync()
    {
        if (Interlocked.Exchange(ref _renewing, 1) == 1)
        {
            return;
        }

        try
        {
            if (!_connection.TryGetDatabase(out var database))
            {
                if (!_leases.IsEmpty)
                {
                    _connection.MarkFailed("renew", null);
                }

                PrunePendingReleases();
                return;
            }

            var byUser = new Dictionary<string, List<RedisValue>>(StringComparer.Ordinal);
            var tasks = new List<Task>();
            lock (_issueLock)
            {
                while (_pendingReleases.TryDequeue(out var pending))
                {
                    IssueRelease(pending.User, pending.Id);
                }

                foreach (var (id, lease) in _leases)
                {
                    if (!lease.Renew)
                    {
                        continue;
                    }

                    if (!byUser.TryGetValue(lease.UserKey, out var ids))
                    {
                        byUser[lease.UserKey] = ids = [_ttl, lease.UserKey];
                    }

                    ids.Add(id);
                }

                foreach (var (user, args) in byUser)
                {
                    tasks.Add(database.ScriptEvaluateAsync(RedisScripts.Renew, _connection.Keys.UserKeys(user), [.. args]));
                }

                if (tasks.Count == 0)
                {
                    tasks.Add(database.PingAsync());
                }
            }

            await Task.WhenAll(tasks).WaitAsync(RenewalPeriod, _timeProvider).ConfigureAwait(false);
            _connection.MarkAvailable();
            Log.Renewed(_logger, byUser.Count, _leases.Count);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            _connection.MarkFailed("renew", ex);
        }
        finally
        {
            Volatile.Write(ref _renewing, 0);
        }
    }

    /// <summary>Gets the renewal period: a third of the lease TTL.</summary>
    public TimeSpan RenewalPeriod => _options.LeaseTtl / 3;

    /// <summary>
    /// At shutdown, after the pool drained: releases whatever is left and waits (briefly) until Redis has processed the
    /// releases, so a node that stops cleanly frees its users' slots at once rather than after the TTL.
    /// </summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        foreach (var (id, lease) in _leases)
        {
            Release(lease.UserKey, id);
        }

        if (!_connection.TryGetDatabase(out var database))
        {
            return;
        }

        try
        {
            lock (_issueLock)
            {
                while (_pendingReleases.TryDequeue(out var pending))
                {
                    IssueRelease(pending.User, pending.Id);
                }
            }

            // Commands run in order on one connection: when the ping answers, every release before it has run.
            await database.PingAsync().WaitAsync(_options.OperationTimeout, _timeProvider, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or OperationCanceledException)
        {
            Log.FlushFailed(_logger, _pendingReleases.Count, ex);
        }
    }

    /// <summary>Under <see cref="_issueLock"/>: sends the release now, or queues it for when Redis is back.</summary>
    private void IssueRelease(string userKey, string connectionId)
    {
        if (!_connection.TryGetDatabase(out var database))
        {
            _pendingReleases.Enqueue((userKey, connectionId, _timeProvider.GetTimestamp()));
            return;
        }

        try
        {
            var task = database.ScriptEvaluateAsync(RedisScripts.Release, _connection.Keys.UserKeys(userKey), [userKey, connectionId]);
            if (!task.IsCompletedSuccessfully)
            {
                _ = ObserveReleaseAsync(task, userKey, connectionId);
            }
        }
        catch (RedisException ex)
        {
            _connection.MarkFailed("release", ex);
            _pendingReleases.Enqueue((userKey, connectionId, _timeProvider.GetTimestamp()));
        }
    }

    private async Task ObserveReleaseAsync(Task task, string userKey, string connectionId)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            _connection.MarkFailed("release", ex);
            _pendingReleases.Enqueue((userKey, connectionId, _timeProvider.GetTimestamp()));
        }
    }

    /// <summary>
    /// While Redis is away: forgets queued releases older than the lease TTL. Their leases were last renewed before
    /// they were queued, so Redis has expired them by now; the queue stays bounded however long the outage lasts.
    /// </summary>
    private void PrunePendingReleases()
    {
        while (_pendingReleases.TryPeek(out var oldest) && _timeProvider.GetElapsedTime(oldest.Since) > _options.LeaseTtl)
        {
            _pendingReleases.TryDequeue(out _);
        }
    }

    private WebSocketGateDecision Unavailable(Lease lease, int limit, Exception? exception)
    {
        _connection.MarkFailed("admit", exception);
        if (_options.FailurePolicy == RedisFailurePolicy.FailClosed)
        {
            // The lease stays in the table unrenewed: the pool releases the refused slot, which deletes it in Redis too.
            _metrics.FailClosedRefusal();
            return WebSocketGateDecision.Refuse(RejectionReasons.ClusterUnavailable, limit, 0, s_retryAfter);
        }

        // Admitted on node-local limits; the next renewal after Redis answers again registers the lease.
        lease.Renew = true;
        _metrics.FailOpenAdmission();
        Log.FailOpen(_logger);
        return WebSocketGateDecision.Admit();
    }

    /// <summary>The oldest lease was handed over to a newcomer now accepted: close it with 4001 on whichever node holds it.</summary>
    public async ValueTask EvictAsync(string userKey, string connectionId, string victimId, CancellationToken cancellationToken)
    {
        _metrics.ClusterEviction();
        const string Reason = "Replaced by a newer connection.";
        var dash = victimId.IndexOf('-', StringComparison.Ordinal);
        var node = dash > 0 ? victimId[..dash] : string.Empty;
        Log.ClusterEviction(_logger, victimId);
        if (string.Equals(node, _factory.NodeId, StringComparison.Ordinal))
        {
            _factory.DisconnectConnection(victimId, WebSocketCloseCodes.Evicted, Reason);
            return;
        }

        var message = new BusMessage(BusMessageKind.KickConnection, _factory.NodeId, victimId, WebSocketCloseCodes.Evicted, Reason, ReadOnlyMemory<byte>.Empty);
        await _bus.PublishToNodeAsync(node, message, cancellationToken).ConfigureAwait(false);
    }

    private sealed class Lease(string userKey)
    {
        public string UserKey { get; } = userKey;

        /// <summary>True once Redis admitted the lease, or it was admitted on local limits: renewal keeps it registered.</summary>
        public volatile bool Renew;
    }

    private static partial class Log
    {
        [LoggerMessage(211, LogLevel.Warning, "Redis unavailable: WebSocket admitted on node-local limits (fail-open).", EventName = "RedisFailOpenAdmission")]
        public static partial void FailOpen(ILogger logger);

        [LoggerMessage(212, LogLevel.Information, "Evicted lease {ConnectionId} cluster-wide (EvictOldest); its node closes it with 4001.", EventName = "RedisClusterEviction")]
        public static partial void ClusterEviction(ILogger logger, string connectionId);

        [LoggerMessage(213, LogLevel.Debug, "Renewed leases of {Users} users ({Leases} leases).", EventName = "RedisLeasesRenewed")]
        public static partial void Renewed(ILogger logger, int users, int leases);

        [LoggerMessage(214, LogLevel.Warning, "Could not confirm releases at shutdown; {Pending} wait and will expire with their TTL.", EventName = "RedisFlushFailed")]
        public static partial void FlushFailed(ILogger logger, int pending, Exception exception);
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using WebSocketPool.Internal;

namespace WebSocketPool.Redis.Internal;

/// <summary>
/// Keeps this node's leases alive in Redis with one heartbeat key (renewed every third of the TTL: O(1) Redis work
/// however many users the node holds), and sets things right when the heartbeat finds that something happened:
/// <list type="bullet">
/// <item>the heartbeat had lapsed (a pause, a partition or an outage longer than the TTL): other nodes may have taken
/// this node's places, so each open connection is re-admitted through the limit check and the refused ones are closed
/// with 4001;</item>
/// <item>the cluster's epoch changed (Redis lost its data: a restart without persistence, a failover to an empty
/// replica): the open connections are put back unchecked, as they were admitted under the limit;</item>
/// <item>connections admitted on node-local limits while Redis could not be asked are admitted through the check;</item>
/// <item>evictions another node queued for this one (EvictOldest) are closed with 4001, even if their pub/sub kick was lost.</item>
/// </list>
/// Releases Redis could not take are sent first, so a lease released while Redis was away is never revived.
/// </summary>
internal sealed partial class NodeHeartbeat : IDisposable
{
    private const int ReadmitBatch = 500;
    private const string OverLimitReason = "Over the cluster's per-user limit after this node lost contact with it.";

    private readonly RedisConnection _connection;
    private readonly LeaseTable _table;
    private readonly ReleaseQueue _releases;
    private readonly RedisCommandGuard _guard;
    private readonly PooledWebSocketManagerFactory _factory;
    private readonly RedisWebSocketPoolOptions _options;
    private readonly RedisWebSocketPoolMetrics _metrics;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly int _limit;
    private readonly SemaphoreSlim _beating = new(1, 1);
    private string? _epoch;

    public NodeHeartbeat(RedisConnection connection, LeaseTable table, ReleaseQueue releases, RedisCommandGuard guard,
        PooledWebSocketManagerFactory factory, IOptions<RedisWebSocketPoolOptions> options, IOptions<WebSocketPoolOptions> poolOptions,
        RedisWebSocketPoolMetrics metrics, TimeProvider timeProvider, ILogger<NodeHeartbeat> logger)
    {
        _connection = connection;
        _table = table;
        _releases = releases;
        _guard = guard;
        _factory = factory;
        _options = options.Value;
        _metrics = metrics;
        _timeProvider = timeProvider;
        _logger = logger;
        _limit = poolOptions.Value.MaxConnectionsPerUser;
    }

    /// <summary>Gets the heartbeat period: a third of the lease TTL.</summary>
    public TimeSpan Period => _options.LeaseTtl / 3;

    /// <summary>Gets the cluster epoch this node last saw, or <see langword="null"/> before its first heartbeat.</summary>
    public string? Epoch => Volatile.Read(ref _epoch);

    public void Dispose() => _beating.Dispose();

    /// <summary>
    /// Renews the heartbeat and recovers from whatever it reveals. Beats run one at a time: a caller that finds one
    /// running waits for it and returns its own view (an admission that found the heartbeat missing needs the recovery
    /// done before it retries). Returns whether Redis answered.
    /// </summary>
    public async Task<bool> BeatAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            await _beating.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ObjectDisposedException)
        {
            return false;
        }

        try
        {
            return await BeatOnceAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            _connection.MarkFailed("heartbeat", ex);
            return false;
        }
        finally
        {
            _beating.Release();
        }
    }

    /// <summary>
    /// At shutdown, after the pool drained: sends what releases are left and deletes this node's heartbeat, so every lease
    /// it may still hold dies at once rather than after the TTL; waits (briefly) for Redis to have done it.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (!_connection.TryGetDatabase(out var database))
        {
            return;
        }

        try
        {
            lock (_table.IssueLock)
            {
                _releases.Drain(cancellationToken);
            }

            // Commands run in order on one connection: when the delete answers, every release before it has run.
            await database.KeyDeleteAsync([_connection.Keys.Heartbeat(_connection.NodeId), _connection.Keys.Evictions(_connection.NodeId)])
                .WaitAsync(_options.OperationTimeout, _timeProvider, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or OperationCanceledException)
        {
            Log.StopFailed(_logger, _releases.Count, ex);
        }
    }

    private async Task<bool> BeatOnceAsync(CancellationToken cancellationToken)
    {
        if (!_connection.TryGetDatabase(out var database))
        {
            if (!_table.IsEmpty)
            {
                _connection.MarkFailed("heartbeat", null);
            }

            return false;
        }

        lock (_table.IssueLock)
        {
            _releases.Drain(cancellationToken);
        }

        var proposed = Guid.NewGuid().ToString("N");
        var reply = (RedisResult[])(await database.ScriptEvaluateAsync(RedisScripts.Heartbeat, _connection.Keys.Routing,
                [_connection.Keys.Tag, _connection.NodeId, (long)_options.LeaseTtl.TotalMilliseconds, proposed])
            .WaitAsync(_options.OperationTimeout, _timeProvider, cancellationToken).ConfigureAwait(false))!;
        _connection.MarkAvailable();
        await _guard.ConfirmAvailableAsync().ConfigureAwait(false);

        var wasAlive = (int)reply[0] == 1;
        var epoch = (string)reply[1]!;
        CloseEvicted((RedisResult[])reply[2]!);

        var known = Volatile.Read(ref _epoch);
        if (known is not null && !string.Equals(known, epoch, StringComparison.Ordinal))
        {
            _metrics.EpochChanged();
            Log.EpochChanged(_logger, _table.Count);
            await RegisterAsync(database, cancellationToken).ConfigureAwait(false);
        }
        else if (known is not null && !wasAlive)
        {
            _metrics.HeartbeatLapsed();
            Log.Lapsed(_logger, _table.Count);
            _table.MarkRegisteredAsUnregistered();
        }

        Volatile.Write(ref _epoch, epoch);
        await ReadmitAsync(database, cancellationToken).ConfigureAwait(false);
        return true;
    }

    private void CloseEvicted(RedisResult[] evicted)
    {
        foreach (var id in evicted)
        {
            // Usually closed already by the kick on the bus; this covers a kick that was lost.
            _factory.DisconnectConnection((string)id!, WebSocketCloseCodes.Evicted, CloseArguments.EvictedReason);
        }
    }

    /// <summary>Redis lost its data: put back, unchecked, every lease it held; forget releases there is nothing left to apply to.</summary>
    private async Task RegisterAsync(IDatabase database, CancellationToken cancellationToken)
    {
        List<(string User, string Id, LocalLease Lease)> registered;
        var tasks = new List<Task>();
        lock (_table.IssueLock)
        {
            _releases.Clear();
            registered = _table.InState(LeaseState.Registered);
            foreach (var batch in registered.Chunk(ReadmitBatch))
            {
                tasks.Add(database.ScriptEvaluateAsync(RedisScripts.Register, _connection.Keys.Routing, PairArguments(batch, _connection.Keys.Tag)));
            }
        }

        await Task.WhenAll(tasks).WaitAsync(Period, _timeProvider, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Admits, through the limit check, every lease Redis may not hold; closes the refused connections with 4001.</summary>
    private async Task ReadmitAsync(IDatabase database, CancellationToken cancellationToken)
    {
        List<(string User, string Id, LocalLease Lease)> pending;
        var batches = new List<((string User, string Id, LocalLease Lease)[] Batch, Task<RedisResult> Reply)>();
        lock (_table.IssueLock)
        {
            pending = _table.InState(LeaseState.Unregistered);
            foreach (var batch in pending.Chunk(ReadmitBatch))
            {
                foreach (var (_, _, lease) in batch)
                {
                    lease.SentToRedis = true;
                }

                batches.Add((batch, database.ScriptEvaluateAsync(RedisScripts.Readmit, _connection.Keys.Routing, PairArguments(batch, _connection.Keys.Tag, _limit))));
            }
        }

        if (batches.Count == 0)
        {
            return;
        }

        await Task.WhenAll(batches.Select(b => b.Reply)).WaitAsync(Period, _timeProvider, cancellationToken).ConfigureAwait(false);
        var refused = 0;
        foreach (var (batch, reply) in batches)
        {
            var flags = (RedisResult[])reply.Result!;
            for (var i = 0; i < batch.Length; i++)
            {
                var (_, id, lease) = batch[i];
                if ((int)flags[i] == 1)
                {
                    lease.State = LeaseState.Registered;
                }
                else
                {
                    refused++;
                    _factory.DisconnectConnection(id, WebSocketCloseCodes.Evicted, OverLimitReason);
                }
            }
        }

        if (refused > 0)
        {
            _metrics.ReadmissionRefused(refused);
        }

        Log.Readmitted(_logger, pending.Count - refused, refused);
    }

    /// <summary>The script arguments <paramref name="head"/> followed by each lease's user and id.</summary>
    private static RedisValue[] PairArguments((string User, string Id, LocalLease Lease)[] batch, params RedisValue[] head)
    {
        var args = new RedisValue[head.Length + batch.Length * 2];
        head.CopyTo(args, 0);
        for (var i = 0; i < batch.Length; i++)
        {
            args[head.Length + i * 2] = batch[i].User;
            args[head.Length + i * 2 + 1] = batch[i].Id;
        }

        return args;
    }

    private static partial class Log
    {
        [LoggerMessage(215, LogLevel.Warning, "This node's heartbeat in Redis had lapsed; re-admitting its {Leases} connections through the cluster's limits.", EventName = "RedisHeartbeatLapsed")]
        public static partial void Lapsed(ILogger logger, int leases);

        [LoggerMessage(216, LogLevel.Warning, "Redis lost its data (a new epoch); putting this node's {Leases} connections back as they were.", EventName = "RedisEpochChanged")]
        public static partial void EpochChanged(ILogger logger, int leases);

        [LoggerMessage(217, LogLevel.Information, "Re-admitted {Kept} connections in Redis; closed {Refused} over the limit with 4001.", EventName = "RedisReadmitted")]
        public static partial void Readmitted(ILogger logger, int kept, int refused);

        [LoggerMessage(214, LogLevel.Warning, "Could not confirm releases at shutdown; {Pending} wait, and every lease of this node dies with its heartbeat.", EventName = "RedisFlushFailed")]
        public static partial void StopFailed(ILogger logger, int pending, Exception exception);
    }
}

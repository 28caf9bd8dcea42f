// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Options;
using StackExchange.Redis;
using WebSocketPool.Redis.Internal;

namespace WebSocketPool.Redis;

/// <summary>
/// Who is connected across the cluster, read from the leases in Redis: a user's connections on every node, the list
/// of online users, and each change as it happens. Counts include handshakes being admitted and leave out leases of
/// nodes whose heartbeat lapsed (a dead node's connections drop out within <see cref="RedisWebSocketPoolOptions.LeaseTtl"/>). While Redis
/// does not answer, the queries answer from this node's own connections and <see cref="IsClusterWide"/> is false; they
/// never throw for it. Registered as a singleton by <c>AddRedis</c>.
/// </summary>
/// <remarks>
/// <para>
/// The model is a list read once, then changes: <see cref="GetOnlineUsersAsync"/> reads the whole list (in pages, so
/// Redis is never busy with one long command), and <see cref="WatchAsync"/> delivers every later change as the user's
/// new count, at O(1) Redis work per change whatever the number of users online. Keep a list current by applying the
/// changes to it.
/// </para>
/// <para>
/// Changes travel over pub/sub, at most once: a node that cannot hear the bus for a while (its Redis health check says
/// Degraded) misses the changes made meanwhile, and a node that dies announces nothing, its users' leases simply
/// expiring. Read the list again after such a gap, and on a timer of about <see cref="RedisWebSocketPoolOptions.LeaseTtl"/>
/// if dead nodes must drop out of it promptly.
/// </para>
/// </remarks>
public sealed class WebSocketClusterPresence
{
    private const int PageSize = 256;

    private readonly RedisConnection _connection;
    private readonly RedisLeaseGate _gate;
    private readonly RedisBus _bus;
    private readonly PresenceFeed _feed;
    private readonly PooledWebSocketManagerFactory _factory;
    private readonly RedisWebSocketPoolOptions _options;
    private readonly int _limit;
    private readonly TimeProvider _timeProvider;

    internal WebSocketClusterPresence(RedisConnection connection, RedisLeaseGate gate, RedisBus bus, PresenceFeed feed,
        PooledWebSocketManagerFactory factory, IOptions<RedisWebSocketPoolOptions> options, IOptions<WebSocketPoolOptions> poolOptions,
        TimeProvider timeProvider)
    {
        _connection = connection;
        _gate = gate;
        _bus = bus;
        _feed = feed;
        _factory = factory;
        _options = options.Value;
        _limit = poolOptions.Value.MaxConnectionsPerUser;
        _timeProvider = timeProvider;
    }

    /// <summary>Gets a value indicating whether Redis answers, so that answers cover the whole cluster.</summary>
    public bool IsClusterWide => _connection.IsAvailable;

    /// <summary>Counts a user's connections on every node.</summary>
    /// <param name="userKey">The user.</param>
    /// <param name="cancellationToken">Stops waiting for Redis.</param>
    /// <returns>The user's live leases in the cluster; this node's count while Redis does not answer.</returns>
    public async Task<int> GetConnectionCountAsync(string userKey, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(userKey);
        return await _gate.CountAsync(userKey, cancellationToken).ConfigureAwait(false) ?? _factory.GetConnectionCount(userKey);
    }

    /// <summary>Lists every user with at least one connection somewhere in the cluster, ordered by user key (ordinal).</summary>
    /// <param name="cancellationToken">Stops waiting for Redis.</param>
    /// <returns>Users and their connection counts; this node's users while Redis does not answer.</returns>
    /// <remarks>
    /// Reads the online users a page at a time (<c>SSCAN</c>, then one script counting that page's users), so the
    /// whole list costs O(online users) spread over short commands. Read it once, then follow <see cref="WatchAsync"/>;
    /// do not read it again on every change.
    /// </remarks>
    public async Task<IReadOnlyList<UserConnectionCount>> GetOnlineUsersAsync(CancellationToken cancellationToken = default)
    {
        if (_connection.TryGetDatabase(out var database))
        {
            try
            {
                var users = await ReadPagesAsync(database, cancellationToken).ConfigureAwait(false);
                _connection.MarkAvailable();
                return users;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                _connection.MarkFailed("presence", ex);
            }
        }

        var local = _factory.GetSnapshot(1000).Users.ToList();
        local.Sort(static (a, b) => string.CompareOrdinal(a.User, b.User));
        return local;
    }

    /// <summary>
    /// Calls <paramref name="onChange"/> with every presence change in the cluster from now on: a user's connections on
    /// every node after one of them opened or ended (<see cref="UserConnectionCount.Connections"/> 0 = the user went
    /// offline). Changes come one at a time, in the order Redis made them; changes of one user always in order, so
    /// the last one is the current count. Dispose the returned handle to stop; this node stops hearing presence changes
    /// when its last watcher has gone.
    /// </summary>
    /// <param name="onChange">Called for each change; an exception it throws is logged and the next change delivered.</param>
    /// <param name="cancellationToken">Stops waiting for the subscription.</param>
    /// <returns>
    /// The watch, once this node hears presence changes (a change made after this completes is delivered). While the bus
    /// is unavailable it completes anyway, the node subscribes when it can, and its Redis health check says Degraded meanwhile.
    /// </returns>
    public async Task<IAsyncDisposable> WatchAsync(Func<UserConnectionCount, ValueTask> onChange, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(onChange);
        var watch = new Watch(this, onChange);
        _feed.Add(onChange);
        try
        {
            await _bus.Subscriptions.AcquireAsync(_bus.Channels.Presence).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await watch.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return watch;
    }

    private async Task<IReadOnlyList<UserConnectionCount>> ReadPagesAsync(IDatabase database, CancellationToken cancellationToken)
    {
        var keys = _connection.Keys;
        var seen = new HashSet<string>(StringComparer.Ordinal); // SSCAN may return a member twice
        var users = new List<UserConnectionCount>();
        var cursor = "0";
        do
        {
            var page = (RedisResult[])(await database.ExecuteAsync("SSCAN", keys.Online, cursor, "COUNT", PageSize)
                .WaitAsync(_options.OperationTimeout, _timeProvider, cancellationToken).ConfigureAwait(false))!;
            cursor = (string)page[0]!;
            var members = (RedisValue[])page[1]!;
            if (members.Length == 0)
            {
                continue;
            }

            var args = new RedisValue[members.Length + 1];
            args[0] = keys.Tag;
            members.CopyTo(args, 1);
            var counts = (RedisResult[])(await database.ScriptEvaluateAsync(PresenceScripts.Counts, keys.Routing, args)
                .WaitAsync(_options.OperationTimeout, _timeProvider, cancellationToken).ConfigureAwait(false))!;
            for (var i = 0; i + 1 < counts.Length; i += 2)
            {
                var user = (string)counts[i]!;
                if (seen.Add(user))
                {
                    users.Add(new UserConnectionCount(user, (int)counts[i + 1], _limit));
                }
            }
        }
        while (cursor != "0");

        users.Sort(static (a, b) => string.CompareOrdinal(a.User, b.User));
        return users;
    }

    private sealed class Watch(WebSocketClusterPresence presence, Func<UserConnectionCount, ValueTask> onChange) : IAsyncDisposable
    {
        private int _disposed;

        public ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                presence._feed.Remove(onChange);
                presence._bus.Subscriptions.Release(presence._bus.Channels.Presence);
            }

            return ValueTask.CompletedTask;
        }
    }
}

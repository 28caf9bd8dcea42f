// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Options;
using StackExchange.Redis;
using WebSocketPool.Redis.Internal;

namespace WebSocketPool.Redis;

/// <summary>
/// Who is connected across the cluster, read from the leases in Redis: a user's connections on every node, and the
/// list of online users. Counts include handshakes being admitted and leave out leases of nodes whose heartbeat lapsed
/// (a dead node's connections drop out within <see cref="RedisWebSocketPoolOptions.LeaseTtl"/>). While Redis does not answer, both
/// methods answer from this node's own connections and <see cref="IsClusterWide"/> is false; they never throw for it.
/// Registered as a singleton by <c>AddRedis</c>.
/// </summary>
public sealed class WebSocketClusterPresence
{
    private readonly RedisConnection _connection;
    private readonly RedisLeaseGate _gate;
    private readonly RedisCommandGuard _guard;
    private readonly PooledWebSocketManagerFactory _factory;
    private readonly int _limit;

    internal WebSocketClusterPresence(RedisConnection connection, RedisLeaseGate gate, RedisCommandGuard guard, PooledWebSocketManagerFactory factory,
        IOptions<WebSocketPoolOptions> poolOptions)
    {
        _connection = connection;
        _gate = gate;
        _guard = guard;
        _factory = factory;
        _limit = poolOptions.Value.MaxConnectionsPerUser;
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
    /// <remarks>One Redis script walks the online users; it costs O(online users), fine for presence panels of a few thousand.</remarks>
    public async Task<IReadOnlyList<UserConnectionCount>> GetOnlineUsersAsync(CancellationToken cancellationToken = default)
    {
        if (await _guard.TryEvaluateAsync("presence", RedisScripts.Online, [_connection.Keys.Tag], cancellationToken).ConfigureAwait(false) is { } result)
        {
            var flat = (RedisResult[])result!;
            var users = new List<UserConnectionCount>(flat.Length / 2);
            for (var i = 0; i + 1 < flat.Length; i += 2)
            {
                users.Add(new UserConnectionCount((string)flat[i]!, (int)flat[i + 1], _limit));
            }

            users.Sort(static (a, b) => string.CompareOrdinal(a.User, b.User));
            return users;
        }

        var local = _factory.GetSnapshot(1000).Users.ToList();
        local.Sort(static (a, b) => string.CompareOrdinal(a.User, b.User));
        return local;
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Redis.Internal;

/// <summary>
/// The Lua scripts that keep the cluster's leases. Each runs atomically on the Redis server; StackExchange.Redis sends
/// them as <c>EVALSHA</c> and falls back to <c>EVAL</c> after a restart emptied the script cache.
/// </summary>
/// <remarks>
/// <para>The model. A user's leases are one sorted set of connection ids scored by admission order (a cluster-wide
/// sequence, so "oldest" is exact even for two admissions in the same millisecond). A lease is written only when it is
/// admitted and deleted when it is released: nothing is renewed per lease. A lease is live while its node's heartbeat
/// key lives (the node id starts every connection id); a node renews that one key every third of the TTL, so renewal
/// costs the same for ten users as for ten thousand. A lease of a node whose heartbeat lapsed is dead and is purged by
/// the next script that reads that user.</para>
/// <para>A node whose heartbeat lapsed while it was still running (a pause, a partition) finds out at its next
/// heartbeat and re-admits each of its open connections through <see cref="Readmit"/>, which checks the limit: what
/// others admitted meanwhile wins. Only when Redis itself lost its data (the epoch key the cluster writes is gone or
/// new) does a node put its leases back unchecked (<see cref="Register"/>).</para>
/// <para>ARGV[1] of every script is the key prefix with its hash tag (<c>{prefix}:</c>): every key shares one slot, so
/// the scripts also run on a Redis Cluster.</para>
/// </remarks>
internal static class RedisScripts
{
    /// <summary>The helpers every lease and presence script starts with: liveness by heartbeat, purge, add.</summary>
    internal const string Common = """
        local P = ARGV[1]
        local alive = {}
        local function nodeOf(id)
          local dash = string.find(id, '-', 1, true)
          if dash then return string.sub(id, 1, dash - 1) end
          return id
        end
        local function isAlive(node)
          local known = alive[node]
          if known == nil then
            known = redis.call('EXISTS', P .. 'hb:' .. node) == 1
            alive[node] = known
          end
          return known
        end
        local function purge(leases)
          local ids = redis.call('ZRANGE', leases, 0, -1)
          local live = #ids
          for i = 1, #ids do
            if not isAlive(nodeOf(ids[i])) then
              redis.call('ZREM', leases, ids[i])
              live = live - 1
            end
          end
          return live
        end
        local function forgetIfEmpty(user, leases, live)
          if live == 0 then
            redis.call('DEL', leases)
            redis.call('SREM', P .. 'online', user)
          end
        end
        local function add(user, leases, id)
          redis.call('ZADD', leases, redis.call('INCR', P .. 'seq'), id)
          redis.call('SADD', P .. 'online', user)
        end

        """;

    /// <summary>
    /// ARGV: prefix, node, id, user, limit, evict (1 = EvictOldest), ttl ms, and the id of a connection on this node the
    /// newcomer replaces (its node pledged it under EvictOldest) or ''. Returns { -1 } when the node's heartbeat is
    /// missing (it must beat, and recover, first); else drops dead leases, hands the replaced lease over, and admits
    /// when the user holds fewer than the limit; with EvictOldest a user at the limit has the oldest lease removed, queued for its node to close, and its
    /// place handed over. Returns { 1 admitted | 0 refused, the user's live leases, evicted id or nothing }.
    /// </summary>
    public const string Admit = Common + """
        local node, id, user, limit = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
        if not isAlive(node) then return { -1 } end
        local leases = P .. 'leases:' .. user
        local live = purge(leases)
        if ARGV[8] ~= '' and redis.call('ZREM', leases, ARGV[8]) == 1 then
          live = live - 1
        end
        local victim = nil
        if live >= limit then
          if ARGV[6] ~= '1' then return { 0, live } end
          victim = redis.call('ZRANGE', leases, 0, 0)[1]
          redis.call('ZREM', leases, victim)
          local inbox = P .. 'evict:' .. nodeOf(victim)
          redis.call('RPUSH', inbox, victim)
          redis.call('PEXPIRE', inbox, tonumber(ARGV[7]) * 3)
          live = live - 1
        end
        add(user, leases, id)
        if victim then return { 1, live + 1, victim } end
        return { 1, live + 1 }
        """;

    /// <summary>
    /// ARGV: prefix, user, id, and optionally the victim the id was admitted in place of, the ttl ms and the limit. Deletes one
    /// lease (live or not) at once. With a victim (the newcomer never got its socket): when the victim's node has not yet
    /// taken the eviction from its queue, the victim gets its lease back, if the user is under the limit without the
    /// newcomer (it always is unless Redis lost data meanwhile; otherwise the eviction stands). Forgets the user when no
    /// live lease is left. Returns the user's live leases.
    /// </summary>
    public const string Release = Common + """
        local user, id, victim = ARGV[2], ARGV[3], ARGV[4]
        local leases = P .. 'leases:' .. user
        redis.call('ZREM', leases, id)
        local live = purge(leases)
        if victim and victim ~= '' then
          local inbox = P .. 'evict:' .. nodeOf(victim)
          if redis.call('LREM', inbox, 0, victim) > 0 then
            if isAlive(nodeOf(victim)) and live < tonumber(ARGV[6]) then
              add(user, leases, victim)
              live = live + 1
            else
              redis.call('RPUSH', inbox, victim)
              redis.call('PEXPIRE', inbox, tonumber(ARGV[5]) * 3)
            end
          end
        end
        forgetIfEmpty(user, leases, live)
        return live
        """;

    /// <summary>ARGV: prefix, user. The user's live leases across the cluster.</summary>
    public const string Count = Common + """
        local user = ARGV[2]
        local leases = P .. 'leases:' .. user
        local live = purge(leases)
        forgetIfEmpty(user, leases, live)
        return live
        """;

    /// <summary>
    /// ARGV: prefix, node, ttl ms, a new epoch (used only when the cluster has none). Renews the node's heartbeat and
    /// takes the evictions queued for it. Returns { 1 when the heartbeat was still alive | 0 when it had lapsed (or this
    /// is the node's first), the cluster's epoch, { evicted ids } }.
    /// </summary>
    public const string Heartbeat = """
        local P, node, ttl = ARGV[1], ARGV[2], ARGV[3]
        local epoch = redis.call('GET', P .. 'epoch')
        if not epoch then
          epoch = ARGV[4]
          redis.call('SET', P .. 'epoch', epoch)
        end
        local hb = P .. 'hb:' .. node
        local was = 1
        if not redis.call('SET', hb, epoch, 'PX', ttl, 'XX') then
          was = 0
          redis.call('SET', hb, epoch, 'PX', ttl)
        end
        local inbox = P .. 'evict:' .. node
        local evicted = redis.call('LRANGE', inbox, 0, -1)
        if #evicted > 0 then redis.call('DEL', inbox) end
        return { was, epoch, evicted }
        """;

    /// <summary>
    /// ARGV: prefix, limit, then user and id pairs. For each open connection of a node whose heartbeat had lapsed (or
    /// that was admitted while Redis could not be asked): keeps a lease Redis still holds, else admits it when the user
    /// is under the limit. Returns one flag per pair: 1 kept or admitted, 0 refused (the node closes it with 4001).
    /// </summary>
    public const string Readmit = Common + """
        local limit = tonumber(ARGV[2])
        local out = {}
        for i = 3, #ARGV, 2 do
          local user, id = ARGV[i], ARGV[i + 1]
          local leases = P .. 'leases:' .. user
          if redis.call('ZSCORE', leases, id) then
            out[#out + 1] = 1
          elseif purge(leases) < limit then
            add(user, leases, id)
            out[#out + 1] = 1
          else
            out[#out + 1] = 0
          end
        end
        return out
        """;

    /// <summary>
    /// ARGV: prefix, then user and id pairs. Redis lost its data (a new epoch): puts the node's open connections back
    /// as they were, unchecked, since each was admitted under the limit before the loss.
    /// </summary>
    public const string Register = Common + """
        for i = 2, #ARGV, 2 do
          add(ARGV[i], P .. 'leases:' .. ARGV[i], ARGV[i + 1])
        end
        return 1
        """;
}

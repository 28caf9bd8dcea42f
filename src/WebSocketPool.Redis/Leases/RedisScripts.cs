// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Redis.Internal;

/// <summary>
/// The Lua scripts that keep the per-user lease sets. Each runs atomically on the Redis server and reads the clock
/// from the server (<c>TIME</c>), so nodes with skewed clocks agree on expiry. StackExchange.Redis sends them as
/// <c>EVALSHA</c> and falls back to <c>EVAL</c> after a restart emptied the script cache.
/// KEYS[1] = the user's leases (id → expiry ms), KEYS[2] = the user's admission times (id → admitted ms), KEYS[3] = online users.
/// </summary>
internal static class RedisScripts
{
    private const string Now = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local function purge(leases, born)
          local expired = redis.call('ZRANGEBYSCORE', leases, '-inf', now)
          for i = 1, #expired do
            redis.call('ZREM', leases, expired[i])
            redis.call('ZREM', born, expired[i])
          end
        end

        """;

    /// <summary>
    /// ARGV: id, ttl ms, limit, evict (1 = EvictOldest), user. Drops expired leases, then admits when the user holds
    /// fewer than the limit; with EvictOldest a user at the limit has the oldest lease removed and handed over instead.
    /// Returns { 1 admitted | 0 refused, the user's live leases (with this one when admitted), evicted id or nothing }.
    /// </summary>
    public const string Admit = Now + """
        local ttl = tonumber(ARGV[2])
        purge(KEYS[1], KEYS[2])
        local count = redis.call('ZCARD', KEYS[1])
        local victim = nil
        if count >= tonumber(ARGV[3]) then
          if ARGV[4] ~= '1' then
            return { 0, count }
          end
          local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)
          if #oldest == 0 then
            oldest = redis.call('ZRANGE', KEYS[1], 0, 0)
          end
          victim = oldest[1]
          redis.call('ZREM', KEYS[1], victim)
          redis.call('ZREM', KEYS[2], victim)
          count = count - 1
        end
        redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
        redis.call('ZADD', KEYS[2], now, ARGV[1])
        redis.call('SADD', KEYS[3], ARGV[5])
        redis.call('PEXPIRE', KEYS[1], ttl * 2)
        redis.call('PEXPIRE', KEYS[2], ttl * 2)
        if victim then
          return { 1, count + 1, victim }
        end
        return { 1, count + 1 }
        """;

    /// <summary>
    /// ARGV: ttl ms, user, ids…. Renews this node's live leases of one user, re-adding any that Redis lost (restart,
    /// failover, admissions made while it was unreachable). Returns the user's live leases.
    /// </summary>
    public const string Renew = Now + """
        local ttl = tonumber(ARGV[1])
        for i = 3, #ARGV do
          redis.call('ZADD', KEYS[1], now + ttl, ARGV[i])
          redis.call('ZADD', KEYS[2], 'NX', now, ARGV[i])
        end
        redis.call('SADD', KEYS[3], ARGV[2])
        redis.call('PEXPIRE', KEYS[1], ttl * 2)
        redis.call('PEXPIRE', KEYS[2], ttl * 2)
        purge(KEYS[1], KEYS[2])
        return redis.call('ZCARD', KEYS[1])
        """;

    /// <summary>ARGV: user, id. Deletes one lease at once; forgets the user when no live lease is left.</summary>
    public const string Release = Now + """
        redis.call('ZREM', KEYS[1], ARGV[2])
        redis.call('ZREM', KEYS[2], ARGV[2])
        purge(KEYS[1], KEYS[2])
        local count = redis.call('ZCARD', KEYS[1])
        if count == 0 then
          redis.call('DEL', KEYS[1], KEYS[2])
          redis.call('SREM', KEYS[3], ARGV[1])
        end
        return count
        """;

    /// <summary>ARGV: user. The user's live leases across the cluster.</summary>
    public const string Count = Now + """
        purge(KEYS[1], KEYS[2])
        local count = redis.call('ZCARD', KEYS[1])
        if count == 0 then
          redis.call('DEL', KEYS[1], KEYS[2])
          redis.call('SREM', KEYS[3], ARGV[1])
        end
        return count
        """;

    /// <summary>
    /// KEYS[1] = online users; ARGV: leases key prefix, admission-times key prefix. Every user with live leases and their
    /// count, flattened { user, count, … }; users left with none (their node died) are pruned on the way.
    /// </summary>
    public const string Online = Now + """
        local users = redis.call('SMEMBERS', KEYS[1])
        local out = {}
        for i = 1, #users do
          local leases = ARGV[1] .. users[i]
          local born = ARGV[2] .. users[i]
          purge(leases, born)
          local count = redis.call('ZCARD', leases)
          if count == 0 then
            redis.call('DEL', leases, born)
            redis.call('SREM', KEYS[1], users[i])
          else
            out[#out + 1] = users[i]
            out[#out + 1] = count
          end
        end
        return out
        """;
}

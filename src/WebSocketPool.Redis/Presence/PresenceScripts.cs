// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Redis.Internal;

/// <summary>
/// The presence scripts. They read the lease sets the lease gate keeps (see <see cref="RedisKeys"/>) and, like the
/// gate's scripts, take the time from the Redis server and drop expired leases on the way. Each one costs O(1) per user
/// it is given (plus the expired leases it drops), never O(online users).
/// </summary>
internal static class PresenceScripts
{
    private const string Purge = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local function count(leases, born, online, user)
          local expired = redis.call('ZRANGEBYSCORE', leases, '-inf', now)
          for i = 1, #expired do
            redis.call('ZREM', leases, expired[i])
            redis.call('ZREM', born, expired[i])
          end
          local n = redis.call('ZCARD', leases)
          if n == 0 then
            redis.call('DEL', leases, born)
            redis.call('SREM', online, user)
          end
          return n
        end

        """;

    /// <summary>
    /// KEYS: the user's leases, admission times, online users. ARGV: user, presence channel. Counts the user's live
    /// leases and publishes <c>COUNT USER</c> on the presence channel, in one step: the changes of one user reach
    /// every watcher in the order of the counts they carry, so the last one a watcher gets is the current count.
    /// </summary>
    public const string Announce = Purge + """
        local n = count(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
        redis.call('PUBLISH', ARGV[2], n .. ' ' .. ARGV[1])
        return n
        """;

    /// <summary>
    /// KEYS[1]: online users. ARGV: leases key prefix, admission-times key prefix, then a page of users (from SSCAN).
    /// Returns { user, count, … } for those with live leases; users left with none are pruned on the way.
    /// </summary>
    public const string Counts = Purge + """
        local out = {}
        for i = 3, #ARGV do
          local n = count(ARGV[1] .. ARGV[i], ARGV[2] .. ARGV[i], KEYS[1], ARGV[i])
          if n > 0 then
            out[#out + 1] = ARGV[i]
            out[#out + 1] = n
          end
        end
        return out
        """;
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Redis.Internal;

/// <summary>
/// The presence scripts. They read the lease sets the lease gate keeps (see <see cref="RedisScripts"/>) and, like the
/// gate's scripts, drop the leases of dead nodes on the way. Each one costs O(1) per user it is given (plus that
/// user's leases), never O(online users). ARGV[1] is the key prefix with its hash tag.
/// </summary>
internal static class PresenceScripts
{
    /// <summary>
    /// ARGV: prefix, user, presence channel. Counts the user's live leases and publishes <c>COUNT USER</c> on the
    /// presence channel, in one step: the changes of one user reach every watcher in the order of the counts they carry,
    /// so the last one a watcher gets is the current count.
    /// </summary>
    public const string Announce = RedisScripts.Common + """
        local user = ARGV[2]
        local leases = P .. 'leases:' .. user
        local live = purge(leases)
        forgetIfEmpty(user, leases, live)
        redis.call('PUBLISH', ARGV[3], live .. ' ' .. user)
        return live
        """;

    /// <summary>
    /// ARGV: prefix, then a page of users (from SSCAN). Returns { user, count, … } for those with live leases; users
    /// left with none are pruned on the way.
    /// </summary>
    public const string Counts = RedisScripts.Common + """
        local out = {}
        for i = 2, #ARGV do
          local leases = P .. 'leases:' .. ARGV[i]
          local live = purge(leases)
          forgetIfEmpty(ARGV[i], leases, live)
          if live > 0 then
            out[#out + 1] = ARGV[i]
            out[#out + 1] = live
          end
        end
        return out
        """;
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using StackExchange.Redis;

namespace WebSocketPool.Redis.Internal;

/// <summary>
/// Announces a user's presence change on the presence channel each time this node admits or gives up one of the
/// user's leases: one script (<see cref="PresenceScripts.Announce"/>), issued after the lease's own command on the same
/// connection, so the count it publishes already includes the change. O(1) Redis work per change, whatever the number
/// of online users; nodes that do not watch presence never hear it. Bounded like publications
/// (<see cref="RedisWebSocketPoolOptions.MaxInFlightPublishes"/>): a refused announcement is counted, and watchers
/// catch up with the user's next change or a re-read of the list.
/// </summary>
internal sealed class PresenceAnnouncer(RedisConnection connection, BusPublisher publisher, RedisBus bus)
{
    private readonly RedisValue _channel = bus.Channels.Presence;

    /// <summary>Never waits and never throws: it may run on the pool's release path.</summary>
    public void Announce(string userKey)
    {
        var keys = connection.Keys;
        publisher.TryRun("presence", database => database.ScriptEvaluateAsync(PresenceScripts.Announce, keys.Routing, [keys.Tag, userKey, _channel]));
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using StackExchange.Redis;

namespace ChatServer.Sessions;

/// <summary>
/// The stamp store of a cluster: one Redis string per user who signed out (<c>{prefix}:session-stamp:{user}</c>), with
/// an expiry of <see cref="SessionSettings.Lifetime"/>, on the multiplexer the pool and the key ring share. A
/// sign-out on any node is seen by every node at the next request. Failures are thrown: the cookie check then refuses the
/// request (fail closed) rather than accept a session it cannot check.
/// </summary>
internal sealed class RedisSessionStampStore(IConnectionMultiplexer redis, string prefix, SessionSettings session) : ISessionStampStore
{
    public async ValueTask<string?> GetAsync(string user, CancellationToken cancellationToken) =>
        await redis.GetDatabase().StringGetAsync(Key(user));

    public async ValueTask RevokeAsync(string user, CancellationToken cancellationToken) =>
        await redis.GetDatabase().StringSetAsync(Key(user), SessionStamp.New(), session.Lifetime);

    // Names are 1–32 of [A-Za-z0-9_.-] (UserName), so they need no escaping in a key.
    private RedisKey Key(string user) => $"{prefix}:session-stamp:{user}";
}

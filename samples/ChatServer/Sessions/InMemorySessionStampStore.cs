// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;

namespace ChatServer.Sessions;

/// <summary>
/// The stamp store of a single node: a dictionary in this process. A restart forgets the sign-outs it held, so a cookie
/// copied before a sign-out would be accepted again after one; a cluster (<c>--Redis:Configuration</c>) keeps them in
/// Redis instead (<see cref="RedisSessionStampStore"/>).
/// </summary>
internal sealed class InMemorySessionStampStore(TimeProvider timeProvider, SessionSettings session) : ISessionStampStore
{
    private readonly ConcurrentDictionary<string, Entry> _stamps = new(StringComparer.Ordinal);
    private long _nextSweep;

    public ValueTask<string?> GetAsync(string user, CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
        if (_stamps.TryGetValue(user, out var entry))
        {
            if (entry.Expires > now)
            {
                return new(entry.Stamp);
            }

            _stamps.TryRemove(KeyValuePair.Create(user, entry));
        }

        return new((string?)null);
    }

    public ValueTask RevokeAsync(string user, CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
        _stamps[user] = new Entry(SessionStamp.New(), now + session.Lifetime);
        SweepIfDue(now);
        return default;
    }

    /// <summary>Drops lapsed entries at most once a minute, on a sign-out, so the store holds only live sign-outs.</summary>
    private void SweepIfDue(DateTimeOffset now)
    {
        var due = Interlocked.Read(ref _nextSweep);
        if (now.UtcTicks < due || Interlocked.CompareExchange(ref _nextSweep, now.UtcTicks + TimeSpan.TicksPerMinute, due) != due)
        {
            return;
        }

        foreach (var pair in _stamps)
        {
            if (pair.Value.Expires <= now)
            {
                _stamps.TryRemove(pair);
            }
        }
    }

    private readonly record struct Entry(string Stamp, DateTimeOffset Expires);
}

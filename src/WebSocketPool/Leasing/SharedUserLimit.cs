// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Internal;

/// <summary>
/// One per-user total shared by the pools of a <see cref="WebSocketPoolOptions.UserLimitGroup"/>. Each pool keeps its own
/// per-user count as usual and moves this one with it, in the same places and under the same user lock (taken before
/// this one's, never after): a slot taken, a slot freed, an audit repair. So the total is always the sum of the pools'
/// counts, and an admission takes its place here atomically against the shared limit.
/// </summary>
/// <remarks>
/// One lock for the group: the critical sections are a dictionary lookup and an add, and a group is an opt-in for a few
/// pools of one app. Entries go when they reach 0, so memory does not grow with the users ever seen.
/// </remarks>
internal sealed class SharedUserLimit(string name, int limit)
{
    private readonly Dictionary<string, int> _counts = new(StringComparer.Ordinal);

    public string Name { get; } = name;

    public int Limit { get; } = limit;

    /// <summary>Gets how many users hold a connection in the group (for tests).</summary>
    public int UserCount
    {
        get
        {
            lock (_counts)
            {
                return _counts.Count;
            }
        }
    }

    public int Count(string userKey)
    {
        lock (_counts)
        {
            return _counts.GetValueOrDefault(userKey);
        }
    }

    /// <summary>Takes a place for <paramref name="userKey"/> unless the user's total is at the limit.</summary>
    public bool TryTake(string userKey, out int count)
    {
        lock (_counts)
        {
            count = _counts.GetValueOrDefault(userKey);
            if (count >= Limit)
            {
                return false;
            }

            _counts[userKey] = ++count;
            return true;
        }
    }

    /// <summary>Moves the user's total by <paramref name="delta"/> (a freed slot: -1; an audit repair: the difference).</summary>
    public void Adjust(string userKey, int delta)
    {
        if (delta == 0)
        {
            return;
        }

        lock (_counts)
        {
            var count = _counts.GetValueOrDefault(userKey) + delta;
            if (count <= 0)
            {
                _counts.Remove(userKey);
            }
            else
            {
                _counts[userKey] = count;
            }
        }
    }
}

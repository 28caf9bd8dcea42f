// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Internal;

/// <summary>The limit groups of the app (<see cref="WebSocketPoolOptions.UserLimitGroup"/>), one shared total per group name.</summary>
internal sealed class SharedUserLimits
{
    private readonly Dictionary<string, SharedUserLimit> _groups = new(StringComparer.Ordinal);

    /// <summary>The group <paramref name="options"/> names, or <see langword="null"/>; every pool of a group must have the same per-user limit.</summary>
    /// <exception cref="InvalidOperationException">The pool's per-user limit differs from the group's.</exception>
    public SharedUserLimit? For(string pool, WebSocketPoolOptions options)
    {
        if (options.UserLimitGroup is not { Length: > 0 } name)
        {
            return null;
        }

        lock (_groups)
        {
            if (!_groups.TryGetValue(name, out var group))
            {
                group = new SharedUserLimit(name, options.MaxConnectionsPerUser);
                _groups.Add(name, group);
            }
            else if (group.Limit != options.MaxConnectionsPerUser)
            {
                throw new InvalidOperationException(
                    $"The pool '{pool}' has MaxConnectionsPerUser {options.MaxConnectionsPerUser}, but its UserLimitGroup '{name}' shares a per-user total of {group.Limit}: give every pool of the group the same MaxConnectionsPerUser.");
            }

            return group;
        }
    }
}

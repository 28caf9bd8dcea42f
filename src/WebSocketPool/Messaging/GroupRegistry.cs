// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;

namespace WebSocketPool.Internal;

/// <summary>
/// Group membership on this node. A member is a (manager, lease generation) pair, so a manager that was released and
/// reused can never receive a group's messages meant for its previous connection. A released connection leaves all its
/// groups at once; an empty group is removed.
/// </summary>
internal sealed class GroupRegistry
{
    private readonly ConcurrentDictionary<string, Group> _groups = new(StringComparer.Ordinal);

    public int Count => _groups.Count;

    public bool Add(IsolatedWebSocketManager manager, long generation, string group)
    {
        while (true)
        {
            var entry = _groups.GetOrAdd(group, static name => new Group(name));
            lock (entry)
            {
                if (entry.Removed)
                {
                    continue;
                }

                lock (manager.Groups)
                {
                    if (manager.GroupsClosed || !manager.IsCurrent(generation) || !manager.IsOpenForSend)
                    {
                        RemoveIfEmpty(entry);
                        return false;
                    }

                    if (entry.Members.TryAdd(manager, generation))
                    {
                        manager.Groups.Add(group);
                    }

                    return true;
                }
            }
        }
    }

    public bool Remove(IsolatedWebSocketManager manager, long generation, string group)
    {
        if (!_groups.TryGetValue(group, out var entry))
        {
            return false;
        }

        lock (entry)
        {
            lock (manager.Groups)
            {
                if (!entry.Members.TryGetValue(manager, out var member) || member != generation)
                {
                    return false;
                }

                entry.Members.Remove(manager);
                manager.Groups.Remove(group);
                RemoveIfEmpty(entry);
                return true;
            }
        }
    }

    /// <summary>Removes a released manager from every group it joined.</summary>
    public void RemoveAll(IsolatedWebSocketManager manager)
    {
        string[] names;
        lock (manager.Groups)
        {
            // From here on Add refuses this lease, so the copy below is complete.
            manager.GroupsClosed = true;
            if (manager.Groups.Count == 0)
            {
                return;
            }

            names = [.. manager.Groups];
        }

        var generation = manager.Generation;
        foreach (var name in names)
        {
            Remove(manager, generation, name);
        }
    }

    /// <summary>Copies the members of a group for sending outside the lock.</summary>
    public int CopyMembers(string group, ref (IsolatedWebSocketManager Manager, long Generation)[] buffer)
    {
        if (!_groups.TryGetValue(group, out var entry))
        {
            return 0;
        }

        lock (entry)
        {
            RecipientBuffer.EnsureCapacity(ref buffer, entry.Members.Count);

            var i = 0;
            foreach (var (manager, generation) in entry.Members)
            {
                buffer[i++] = (manager, generation);
            }

            return i;
        }
    }

    public int MemberCount(string group) => _groups.TryGetValue(group, out var entry) ? entry.Members.Count : 0;

    private void RemoveIfEmpty(Group entry)
    {
        if (entry.Members.Count == 0)
        {
            entry.Removed = true;
            _groups.TryRemove(new KeyValuePair<string, Group>(entry.Name, entry));
        }
    }

    private sealed class Group(string name)
    {
        public string Name { get; } = name;

        public Dictionary<IsolatedWebSocketManager, long> Members { get; } = [];

        public bool Removed { get; set; }
    }
}

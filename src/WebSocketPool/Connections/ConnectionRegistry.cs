// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;

namespace WebSocketPool.Internal;

/// <summary>
/// The node's open connections, by connection number, and the lookups the senders use: by id (checked against the
/// lease's current number, so an id never reaches a later lease of a reused manager) and by user (an O(1) entry lookup,
/// copied out under the user's lock into a pooled array). Every open connection also has a place in an array, which a
/// broadcast walks: no enumerator is allocated and no lock taken per send.
/// </summary>
internal sealed class ConnectionRegistry(UserTable users)
{
    private readonly ConcurrentDictionary<long, IsolatedWebSocketManager> _connections = new();

    // The broadcast table: a place per open connection (RegistrySlot on the manager), freed places reused first. Written
    // under _slotsLock; grown by copying to a new array, so a broadcast reading the old one sees every connection that was
    // open before the copy (and may see one that has since closed, whose send then finds it closed, as ever).
    private readonly object _slotsLock = new();
    private readonly Stack<int> _freeSlots = new();
    private IsolatedWebSocketManager?[] _slots = new IsolatedWebSocketManager?[64];
    private int _slotsUsed;

    /// <summary>Gets the prefix of this node's connection ids: random, so ids from different processes never collide.</summary>
    public string NodeId { get; } = CreateNodePrefix();

    public int Count => _connections.Count;

    public bool IsEmpty => _connections.IsEmpty;

    /// <summary>
    /// Gets the open connections, for a broadcast or a drain: enumerating the dictionary itself takes no lock and copies
    /// nothing (unlike its <c>Values</c>, which takes every lock and copies the table), at the cost of not being a snapshot.
    /// </summary>
    public ConcurrentDictionary<long, IsolatedWebSocketManager> Open => _connections;

    /// <summary>
    /// Gets the broadcast table: every open connection's manager and some empty places (<see langword="null"/>). Read
    /// without a lock; not a snapshot, like enumerating <see cref="Open"/>.
    /// </summary>
    public ReadOnlySpan<IsolatedWebSocketManager?> Slots
    {
        get
        {
            var slots = Volatile.Read(ref _slots);
            return slots.AsSpan(0, Math.Min(Volatile.Read(ref _slotsUsed), slots.Length));
        }
    }

    public void Add(IsolatedWebSocketManager manager)
    {
        _connections[manager.Number] = manager;
        lock (_slotsLock)
        {
            var index = _freeSlots.Count > 0 ? _freeSlots.Pop() : _slotsUsed;
            var slots = _slots;
            if (index == slots.Length)
            {
                Array.Resize(ref slots, slots.Length * 2);
                Volatile.Write(ref _slots, slots);
            }

            Volatile.Write(ref slots[index], manager);
            manager.RegistrySlot = index;
            if (index == _slotsUsed)
            {
                Volatile.Write(ref _slotsUsed, index + 1);
            }
        }
    }

    public void Remove(long number, IsolatedWebSocketManager manager)
    {
        if (!_connections.TryRemove(new KeyValuePair<long, IsolatedWebSocketManager>(number, manager)))
        {
            return;
        }

        lock (_slotsLock)
        {
            var index = manager.RegistrySlot;
            if (index >= 0 && index < _slotsUsed && ReferenceEquals(_slots[index], manager))
            {
                Volatile.Write(ref _slots[index], null);
                _freeSlots.Push(index);
            }

            manager.RegistrySlot = -1;
        }
    }

    public string FormatConnectionId(long number) => string.Concat(NodeId, "-", number.ToString(CultureInfo.InvariantCulture));

    public bool TryParseConnectionId(string connectionId, out long number)
    {
        number = 0;
        return connectionId.Length > NodeId.Length + 1
            && connectionId.StartsWith(NodeId, StringComparison.Ordinal)
            && connectionId[NodeId.Length] == '-'
            && long.TryParse(connectionId.AsSpan(NodeId.Length + 1), NumberStyles.None, CultureInfo.InvariantCulture, out number);
    }

    public bool TryGetManager(string connectionId, out IsolatedWebSocketManager manager, out long generation)
    {
        if (TryParseConnectionId(connectionId, out var number) && _connections.TryGetValue(number, out manager!))
        {
            generation = manager.Generation;
            return manager.Number == number && manager.IsCurrent(generation);
        }

        manager = null!;
        generation = 0;
        return false;
    }

    public bool TryGetConnection(string connectionId, out WebSocketConnection connection)
    {
        if (TryGetManager(connectionId, out var manager, out var generation) && manager.UserKey is { } user)
        {
            connection = new WebSocketConnection(manager, generation, connectionId, user);
            return true;
        }

        connection = default;
        return false;
    }

    public IReadOnlyList<WebSocketConnection> GetConnections(string userKey)
    {
        if (!users.TryGet(userKey, out var entry))
        {
            return [];
        }

        lock (entry)
        {
            var list = new List<WebSocketConnection>(entry.Active.Count);
            foreach (var manager in entry.Active)
            {
                if ((manager.HasSocket || manager.IsResumeSession) && manager.IsOpenForSend)
                {
                    list.Add(new WebSocketConnection(manager, manager.Generation, manager.GetConnectionId(), userKey));
                }
            }

            return list;
        }
    }

    /// <summary>Copies a user's open managers (with their lease generations) for sending outside the user's lock.</summary>
    public int CopyUserManagers(string userKey, ref (IsolatedWebSocketManager Manager, long Generation)[] buffer)
    {
        if (!users.TryGet(userKey, out var entry))
        {
            return 0;
        }

        lock (entry)
        {
            RecipientBuffer.EnsureCapacity(ref buffer, entry.Active.Count);

            var count = 0;
            foreach (var manager in entry.Active)
            {
                // A held (or resuming) session is the user's connection too: what is sent to it waits for its client.
                if (manager.HasSocket || manager.IsResumeSession)
                {
                    buffer[count++] = (manager, manager.Generation);
                }
            }

            return count;
        }
    }

    private static string CreateNodePrefix()
    {
        Span<byte> bytes = stackalloc byte[5];
        RandomNumberGenerator.Fill(bytes);
        return Convert.ToHexStringLower(bytes);
    }
}

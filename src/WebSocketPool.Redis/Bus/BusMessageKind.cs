// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Redis.Internal;

/// <summary>What a node asks the others to do. <see cref="BusMessage.TryDecode"/> states what each kind must carry.</summary>
internal enum BusMessageKind : byte
{
    /// <summary>Send to a user's connections; on the user's channel.</summary>
    User = 1,

    /// <summary>Send to a group's members; on the group's channel.</summary>
    Group = 2,

    /// <summary>Send to every connection; on the channel every node hears.</summary>
    All = 3,

    /// <summary>Close a user's connections; on the user's channel.</summary>
    KickUser = 4,

    /// <summary>Send to one connection; on its node's channel.</summary>
    Connection = 5,

    /// <summary>Close one connection (a kick, or a cluster eviction); on its node's channel.</summary>
    KickConnection = 6,

    /// <summary>Add a connection to a group; on its node's channel, answered by <see cref="GroupAck"/> when the code asks for it.</summary>
    AddToGroup = 7,

    /// <summary>Remove a connection from a group; on its node's channel, answered like <see cref="AddToGroup"/>.</summary>
    RemoveFromGroup = 8,

    /// <summary>The owning node's answer to a group change, on the asking node's channel: done (payload 1) or not a member / not found (0).</summary>
    GroupAck = 9,

    /// <summary>A node's message to itself, on its own channel, proving that it hears the bus.</summary>
    Probe = 10,
}

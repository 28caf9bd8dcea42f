// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Redis.Internal;

/// <summary>What a node asks the others to do.</summary>
internal enum BusMessageKind : byte
{
    User = 1,
    Group = 2,
    All = 3,
    KickUser = 4,
    Connection = 5,
    KickConnection = 6,
    AddToGroup = 7,
    RemoveFromGroup = 8,
}

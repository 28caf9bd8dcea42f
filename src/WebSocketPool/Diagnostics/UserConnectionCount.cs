// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool;

/// <summary>How many connections a user holds, against their limit.</summary>
/// <param name="User">The user key.</param>
/// <param name="Connections">The user's counted connections.</param>
/// <param name="Limit">The per-user limit.</param>
public sealed record UserConnectionCount(string User, int Connections, int Limit);

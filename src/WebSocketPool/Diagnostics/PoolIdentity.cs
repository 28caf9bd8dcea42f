// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Internal;

/// <summary>
/// The name diagnostics give the pool (the <c>websocketpool.pool</c> span tag, the dashboard's heading). One pool per app
/// today, named <see cref="DefaultName"/>; tracing and the dashboard take the name from here and nowhere else.
/// </summary>
internal static class PoolIdentity
{
    public const string DefaultName = "default";
}

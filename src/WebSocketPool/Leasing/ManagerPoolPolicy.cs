// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.ObjectPool;

namespace WebSocketPool.Internal;

/// <summary>Creates managers for the shared pool and resets them on return.</summary>
internal sealed class ManagerPoolPolicy(PooledWebSocketManagerFactory factory) : IPooledObjectPolicy<IsolatedWebSocketManager>
{
    public IsolatedWebSocketManager Create() => factory.CreateManager();

    public bool Return(IsolatedWebSocketManager obj)
    {
        obj.TryReset();

        // Marked before the pool stores it: the factory's Lease counts it out of the shared pool by this mark.
        obj.WarmSince = -1;
        return true;
    }
}

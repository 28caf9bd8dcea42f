// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Internal;

/// <summary>
/// Implemented by a scale-out package (WebSocketPool.Redis) to give each named pool what <c>AddRedis</c> gives the
/// default one: an admission gate that makes its limits cluster-wide and a sender that reaches other nodes, in a key
/// space of the pool's own so that pools never share leases or messages.
/// </summary>
internal interface IWebSocketPoolScaleOut
{
    /// <summary>Builds the pool's scale-out around its factory and its local sender.</summary>
    PoolScaleOut Create(string poolName, PooledWebSocketManagerFactory factory, IWebSocketSender localSender);
}

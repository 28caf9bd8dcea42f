// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Redis.Internal;

/// <summary>
/// The Redis side of one channel's subscription, as <see cref="ChannelSubscriptions"/> drives it: never called twice at
/// once for the same channel, never asked to subscribe a channel it holds or to unsubscribe one it does not.
/// </summary>
internal interface IChannelSubscriber
{
    /// <summary>
    /// Subscribes, all or nothing: when it throws, nothing of the attempt stays registered (no queue nobody reads, no
    /// channel the client would subscribe again on its next reconnect).
    /// </summary>
    Task SubscribeAsync(string channel);

    /// <summary>Unsubscribes. Does not throw for a lost connection: the server forgot the subscription with it.</summary>
    Task UnsubscribeAsync(string channel);
}

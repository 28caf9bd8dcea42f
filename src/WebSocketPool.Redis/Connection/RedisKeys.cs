// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using StackExchange.Redis;

namespace WebSocketPool.Redis.Internal;

/// <summary>
/// Names of the keys and channels. Every key carries the prefix as a Redis Cluster hash tag (<c>{prefix}</c>), so one
/// app's keys share a slot and the multi-key scripts also run on a Redis Cluster.
/// </summary>
internal sealed class RedisKeys
{
    public RedisKeys(string prefix)
    {
        var tag = "{" + prefix + "}";
        LeasesPrefix = tag + ":leases:";
        BornPrefix = tag + ":born:";
        Online = tag + ":online";
        BusChannel = RedisChannel.Literal(tag + ":bus");
        NodeChannelPrefix = tag + ":node:";
    }

    /// <summary>Per user: a sorted set of lease (connection) ids scored by expiry, in Redis server milliseconds.</summary>
    public string LeasesPrefix { get; }

    /// <summary>Per user: a sorted set of the same ids scored by admission time, to find the oldest for EvictOldest.</summary>
    public string BornPrefix { get; }

    /// <summary>A set of users who may hold live leases (pruned as their leases go).</summary>
    public RedisKey Online { get; }

    /// <summary>Broadcasts: to a user, a group, everyone; kick a user.</summary>
    public RedisChannel BusChannel { get; }

    public string NodeChannelPrefix { get; }

    public RedisKey[] UserKeys(string userKey) => [LeasesPrefix + userKey, BornPrefix + userKey, Online];

    /// <summary>Connection-targeted messages for one node (sends, kicks, group changes for its connections).</summary>
    public RedisChannel NodeChannel(string nodeId) => RedisChannel.Literal(NodeChannelPrefix + nodeId);
}

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
        Tag = tag + ":";
        Online = tag + ":online";
        Routing = [Online];
        BusChannel = RedisChannel.Literal(tag + ":bus");
        NodeChannelPrefix = tag + ":node:";
    }

    /// <summary>
    /// The prefix with its hash tag (<c>{prefix}:</c>), which the lease scripts extend: <c>leases:USER</c> (a sorted set
    /// of connection ids by admission order), <c>hb:NODE</c> (a node's heartbeat), <c>evict:NODE</c> (evictions queued
    /// for a node), <c>seq</c> (the admission sequence) and <c>epoch</c> (written once per data set; see RedisScripts).
    /// </summary>
    public string Tag { get; }

    /// <summary>A node's heartbeat key (the lease scripts build the same name from <see cref="Tag"/>).</summary>
    public RedisKey Heartbeat(string nodeId) => Tag + "hb:" + nodeId;

    /// <summary>The list of evictions queued for a node (the lease scripts build the same name from <see cref="Tag"/>).</summary>
    public RedisKey Evictions(string nodeId) => Tag + "evict:" + nodeId;

    /// <summary>The keys passed to every lease script: one key in the prefix's slot, so a Redis Cluster routes the script there.</summary>
    public RedisKey[] Routing { get; }

    /// <summary>A set of users who may hold live leases (pruned as their leases go).</summary>
    public RedisKey Online { get; }

    /// <summary>Broadcasts: to a user, a group, everyone; kick a user.</summary>
    public RedisChannel BusChannel { get; }

    public string NodeChannelPrefix { get; }

    /// <summary>Connection-targeted messages for one node (sends, kicks, group changes for its connections).</summary>
    public RedisChannel NodeChannel(string nodeId) => RedisChannel.Literal(NodeChannelPrefix + nodeId);
}

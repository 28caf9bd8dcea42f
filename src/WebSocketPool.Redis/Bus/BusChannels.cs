// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using StackExchange.Redis;

namespace WebSocketPool.Redis.Internal;

/// <summary>
/// The bus's channels. A node always hears two: everyone's (<c>{prefix}:bus</c>: sends to all connections) and its
/// own (<c>{prefix}:node:{nodeId}</c>: requests for one of its connections, group changes and their answers, its
/// probe). It hears a user's channel (<c>{prefix}:user:{user}</c>: sends to the user, kicks) only while it holds one of
/// that user's connections, a group's channel (<c>{prefix}:group:{group}</c>) only while one of its connections is a
/// member, and the presence channel (<c>{prefix}:presence</c>) only while the app watches presence.
/// </summary>
internal sealed class BusChannels
{
    private readonly string _userPrefix;
    private readonly string _groupPrefix;
    private readonly string _nodePrefix;

    public BusChannels(RedisKeys keys, string nodeId)
    {
        ArgumentNullException.ThrowIfNull(keys);
        All = keys.BusChannel.ToString();
        _nodePrefix = keys.NodeChannelPrefix;

        // The keys' hash tag, "{prefix}", ends where the node channel's ":node:" starts.
        var tag = _nodePrefix[..^":node:".Length];
        _userPrefix = tag + ":user:";
        _groupPrefix = tag + ":group:";
        Presence = tag + ":presence";
        Own = Node(nodeId);
    }

    /// <summary>Sends to every connection.</summary>
    public string All { get; }

    /// <summary>This node's own channel.</summary>
    public string Own { get; }

    /// <summary>Presence changes (user, connections now) for the nodes that watch them.</summary>
    public string Presence { get; }

    public string Node(string nodeId) => _nodePrefix + nodeId;

    public string User(string userKey) => _userPrefix + userKey;

    public string Group(string group) => _groupPrefix + group;

    /// <summary>The kind of a channel, for the metrics' tag (never the user or group itself).</summary>
    public string KindOf(RedisChannel channel)
    {
        var name = channel.ToString();
        return name.StartsWith(_userPrefix, StringComparison.Ordinal) ? "user"
            : name.StartsWith(_groupPrefix, StringComparison.Ordinal) ? "group"
            : name.StartsWith(_nodePrefix, StringComparison.Ordinal) ? "node"
            : string.Equals(name, Presence, StringComparison.Ordinal) ? "presence"
            : "all";
    }

    public static RedisChannel Literal(string channel) => RedisChannel.Literal(channel);
}

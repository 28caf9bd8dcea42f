// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Text.Json.Serialization;

namespace ChatServer.Messages;

/// <summary>
/// Everyone online and their connection counts: the full list, sent to a connection when it joins (the first presence
/// message it gets) and, in a cluster, again on a timer. Changes after it come as <see cref="PresenceDeltaMessage"/>.
/// </summary>
internal sealed record PresenceMessage(IReadOnlyList<PresenceUser> Users)
{
    [JsonPropertyOrder(-1)]
    public string Type => "presence";
}

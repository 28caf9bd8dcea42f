// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Text.Json.Serialization;

namespace ChatServer.Messages;

/// <summary>
/// What changed in the room since the full <see cref="PresenceMessage"/> a connection got when it joined: each listed
/// user now holds that many connections, <c>0</c> meaning the user left. Sent to everyone else on every join and leave,
/// so its size does not grow with the room.
/// </summary>
internal sealed record PresenceDeltaMessage(IReadOnlyList<PresenceUser> Users)
{
    [JsonPropertyOrder(-1)]
    public string Type => "presence_delta";
}

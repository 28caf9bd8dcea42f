// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Text.Json.Serialization;

namespace ChatServer.Messages;

/// <summary>Everyone online and their connection counts: the full list, sent to everyone on every change.</summary>
internal sealed record PresenceMessage(IReadOnlyList<PresenceUser> Users)
{
    [JsonPropertyOrder(-1)]
    public string Type => "presence";
}

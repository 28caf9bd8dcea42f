// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Text.Json.Serialization;

namespace ChatServer.Messages;

/// <summary>A direct message, sent to every connection of the recipient and of the sender.</summary>
internal sealed record DirectMessage(string From, string To, string Text, DateTimeOffset At)
{
    [JsonPropertyOrder(-1)]
    public string Type => "dm";
}

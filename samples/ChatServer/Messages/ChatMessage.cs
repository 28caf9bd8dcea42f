// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Text.Json.Serialization;

namespace ChatServer.Messages;

/// <summary>A message to the whole room, sent to everyone (the sender included).</summary>
internal sealed record ChatMessage(string From, string Text, DateTimeOffset At)
{
    [JsonPropertyOrder(-1)]
    public string Type => "chat";
}

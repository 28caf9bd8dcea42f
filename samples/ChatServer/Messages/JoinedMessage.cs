// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Text.Json.Serialization;

namespace ChatServer.Messages;

/// <summary>A notification: <paramref name="User"/> opened their first chat connection.</summary>
internal sealed record JoinedMessage(string User, DateTimeOffset At)
{
    [JsonPropertyOrder(-1)]
    public string Type => "joined";
}

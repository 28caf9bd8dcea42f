// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Text.Json.Serialization;

namespace ChatServer.Messages;

/// <summary>The server's time, the answer to <c>{"type":"time"}</c> on the notifications connection.</summary>
internal sealed record TimeMessage(DateTimeOffset At)
{
    [JsonPropertyOrder(-1)]
    public string Type => "time";
}

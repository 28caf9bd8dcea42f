// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Text.Json.Serialization;

namespace ChatServer.Messages;

/// <summary>The first message on every notifications connection: a line for the page to show.</summary>
internal sealed record NoticeMessage(string Text, int Connections, int Limit, DateTimeOffset At)
{
    [JsonPropertyOrder(-1)]
    public string Type => "notice";
}

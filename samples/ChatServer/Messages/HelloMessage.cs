// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Text.Json.Serialization;

namespace ChatServer.Messages;

/// <summary>The first message on every connection: who the user is and how many connections they hold of how many.</summary>
internal sealed record HelloMessage(string User, string ConnectionId, int Connections, int Limit)
{
    [JsonPropertyOrder(-1)]
    public string Type => "hello";
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Text.Json.Serialization;

namespace ChatServer.Messages;

/// <summary>A problem with something the client sent. The connection stays open.</summary>
internal sealed record ErrorMessage(string Code, string Message)
{
    [JsonPropertyOrder(-1)]
    public string Type => "error";
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Text.Json;
using System.Text.Json.Serialization;

namespace ChatServer.Messages;

/// <summary>
/// Source-generated JSON for the chat messages: camelCase names, no reflection. The default encoder escapes
/// HTML-sensitive characters (<c>&lt;</c>, <c>&gt;</c>, <c>&amp;</c>, quotes), so user text stays inert even in a page
/// that mishandled it.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(InboundMessage))]
[JsonSerializable(typeof(HelloMessage))]
[JsonSerializable(typeof(ChatMessage))]
[JsonSerializable(typeof(DirectMessage))]
[JsonSerializable(typeof(PresenceMessage))]
[JsonSerializable(typeof(PresenceDeltaMessage))]
[JsonSerializable(typeof(ErrorMessage))]
[JsonSerializable(typeof(NoticeMessage))]
[JsonSerializable(typeof(JoinedMessage))]
[JsonSerializable(typeof(TimeMessage))]
internal sealed partial class ChatJsonContext : JsonSerializerContext;

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace ChatServer.Messages;

/// <summary>
/// A message from the page: <c>{"type":"chat","text":…}</c> or <c>{"type":"dm","to":…,"text":…}</c>. Every field is
/// optional here so that a missing one becomes a chat error message rather than a parse failure.
/// </summary>
internal sealed record InboundMessage(string? Type, string? To, string? Text);

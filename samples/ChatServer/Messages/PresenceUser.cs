// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace ChatServer.Messages;

/// <summary>One online user in a <see cref="PresenceMessage"/>.</summary>
internal sealed record PresenceUser(string Name, int Connections);

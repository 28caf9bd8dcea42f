// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool;

/// <summary>How a connection ended, given to <see cref="WebSocketHandler.OnDisconnectedAsync"/>.</summary>
/// <param name="Reason">Why the connection ended.</param>
/// <param name="CloseCode">The close code sent or received, or <see langword="null"/> when the socket was aborted.</param>
/// <param name="Exception">The exception that ended the connection, if any.</param>
public sealed record WebSocketDisconnect(DisconnectReason Reason, int? CloseCode, Exception? Exception);

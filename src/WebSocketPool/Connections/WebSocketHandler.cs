// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool;

/// <summary>
/// The app's part of a pooled connection: derive from it and register it with
/// <c>AddWebSocketPooling().AddHandler&lt;T&gt;()</c>. One instance serves all connections (a singleton), and callbacks of
/// one connection never overlap. A callback that throws closes only its own connection, with 1011.
/// </summary>
public abstract class WebSocketHandler
{
    /// <summary>
    /// Called once the socket is accepted, before <see cref="OnConnectedAsync"/>: the place to fill
    /// <see cref="WebSocketConnection.Items"/> from the request (<see cref="WebSocketConnection.User"/>,
    /// <see cref="WebSocketConnection.Query"/>, <see cref="WebSocketConnection.GetHttpContext"/>), for example in a base
    /// handler that others derive from. If it throws, the connection closes with 1011, <see cref="OnConnectedAsync"/> is
    /// not called and <see cref="OnDisconnectedAsync"/> is.
    /// </summary>
    /// <param name="connection">The connection.</param>
    /// <param name="cancellationToken">Cancelled when the connection ends.</param>
    /// <returns>A task that completes when the handler is done.</returns>
    public virtual ValueTask OnConnectingAsync(WebSocketConnection connection, CancellationToken cancellationToken) => default;

    /// <summary>Called once the socket is accepted, before any message is received.</summary>
    /// <param name="connection">The connection; send through it.</param>
    /// <param name="cancellationToken">Cancelled when the connection ends.</param>
    /// <returns>A task that completes when the handler is done.</returns>
    public virtual ValueTask OnConnectedAsync(WebSocketConnection connection, CancellationToken cancellationToken) => default;

    /// <summary>
    /// Called when a client resumed this connection after its socket dropped (<see cref="WebSocketResumeOptions"/>): the
    /// same connection, its id, groups and <see cref="WebSocketConnection.Items"/>, on a new socket and request. The
    /// messages it missed have been queued for it in order before this call; what is sent now comes after them.
    /// <see cref="OnConnectedAsync"/> is not called again, and <see cref="OnDisconnectedAsync"/> was not called for the drop.
    /// </summary>
    /// <param name="connection">The connection.</param>
    /// <param name="cancellationToken">Cancelled when the connection ends.</param>
    /// <returns>A task that completes when the handler is done.</returns>
    public virtual ValueTask OnResumedAsync(WebSocketConnection connection, CancellationToken cancellationToken) => default;

    /// <summary>Called for every complete message. The payload is valid only until the returned task completes.</summary>
    /// <param name="connection">The connection the message came from.</param>
    /// <param name="message">The message; copy what you keep.</param>
    /// <param name="cancellationToken">Cancelled when the connection ends.</param>
    /// <returns>A task that completes when the message is handled; the next message waits for it.</returns>
    public virtual ValueTask OnMessageAsync(WebSocketConnection connection, WebSocketMessage message, CancellationToken cancellationToken) => default;

    /// <summary>
    /// Called when a message exceeds the user's <see cref="WebSocketPoolOptions.MessageRateLimit"/>; the message is not
    /// delivered. The default closes the connection with 1008; override it to send an error message instead.
    /// </summary>
    /// <param name="connection">The connection the message came from.</param>
    /// <param name="cancellationToken">Cancelled when the connection ends.</param>
    /// <returns>A task that completes when the handler is done.</returns>
    public virtual ValueTask OnRateLimitedAsync(WebSocketConnection connection, CancellationToken cancellationToken)
    {
        connection.Close(WebSocketCloseCodes.PolicyViolation, "Message rate limit exceeded.");
        return default;
    }

    /// <summary>
    /// Called once after the connection ended, on every path, for every connection whose
    /// <see cref="OnConnectedAsync"/> was called (a connection kicked during its handshake is closed at once and reaches
    /// neither). The slot is already released, and the connection has left the registry and its groups, so sends through
    /// <paramref name="connection"/> return <see cref="SendResult.Closed"/>; <see cref="WebSocketConnection.Items"/> is
    /// still usable here for clean-up. The lease ends when this returns (even if it throws), after which the handle is
    /// stale.
    /// </summary>
    /// <param name="connection">The connection that ended.</param>
    /// <param name="disconnect">How it ended.</param>
    /// <returns>A task that completes when the handler is done.</returns>
    public virtual ValueTask OnDisconnectedAsync(WebSocketConnection connection, WebSocketDisconnect disconnect) => default;
}

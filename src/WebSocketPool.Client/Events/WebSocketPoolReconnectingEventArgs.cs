// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Client;

/// <summary>A reconnect attempt is about to be made after <see cref="Delay"/>.</summary>
/// <param name="attempt">The attempt, from 1, counted since the last successful connection.</param>
/// <param name="delay">The computed wait before the attempt (at least the server's <c>Retry-After</c>).</param>
/// <param name="closeClass">Backoff or prompt.</param>
/// <param name="closeStatus">The close code that ended the connection, if one did.</param>
/// <param name="statusCode">The HTTP status of the refusal, if the last attempt was refused.</param>
/// <param name="reason">Why, in words (for logs and screens).</param>
public sealed class WebSocketPoolReconnectingEventArgs(int attempt, TimeSpan delay, WebSocketPoolCloseClass closeClass, int? closeStatus, int? statusCode, string reason)
    : EventArgs
{
    /// <summary>Gets the attempt about to be made, from 1, counted since the last successful connection.</summary>
    public int Attempt { get; } = attempt;

    /// <summary>Gets the wait before the attempt, as computed (at least the server's <c>Retry-After</c>).</summary>
    public TimeSpan Delay { get; } = delay;

    /// <summary>Gets the class of what ended the connection or refused the attempt: backoff or prompt.</summary>
    public WebSocketPoolCloseClass CloseClass { get; } = closeClass;

    /// <summary>Gets the close code that ended the connection, or <see langword="null"/> (a refusal, a failed connect, or 1006: no close frame).</summary>
    public int? CloseStatus { get; } = closeStatus;

    /// <summary>Gets the HTTP status of the refusal, or <see langword="null"/> when the attempt was not refused.</summary>
    public int? StatusCode { get; } = statusCode;

    /// <summary>Gets why, in words.</summary>
    public string Reason { get; } = reason;
}

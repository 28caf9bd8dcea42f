// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Client;

/// <summary>The client has closed for good and will not reconnect.</summary>
/// <param name="closeStatus">The close code that ended it, if one did.</param>
/// <param name="statusCode">The HTTP status of a terminal refusal, if one ended it.</param>
/// <param name="description">Why, in words.</param>
/// <param name="closeClass">Terminal for a terminal code, refusal or the application's stop; backoff or prompt when attempts ran out.</param>
/// <param name="exception">The last error, if one ended it.</param>
public sealed class WebSocketPoolClosedEventArgs(int? closeStatus, int? statusCode, string description, WebSocketPoolCloseClass closeClass, Exception? exception)
    : EventArgs
{
    /// <summary>Gets the close code that ended the client (4001, 4003, 1000, ...; 1000 also when the application stopped it), or <see langword="null"/>.</summary>
    public int? CloseStatus { get; } = closeStatus;

    /// <summary>Gets the HTTP status of the terminal refusal (401, 403), or <see langword="null"/>.</summary>
    public int? StatusCode { get; } = statusCode;

    /// <summary>Gets why, in words (the server's close description where it gave one).</summary>
    public string Description { get; } = description;

    /// <summary>
    /// Gets the class of what ended the client: <see cref="WebSocketPoolCloseClass.Terminal"/>, or the class of the
    /// last failure when <see cref="WebSocketPoolClientOptions.MaxReconnectAttempts"/> ran out.
    /// </summary>
    public WebSocketPoolCloseClass CloseClass { get; } = closeClass;

    /// <summary>Gets the last error, if one ended the client.</summary>
    public Exception? Exception { get; } = exception;

    /// <summary>Gets a value indicating whether the application ended the client (<see cref="WebSocketPoolClient.StopAsync"/> or dispose).</summary>
    public bool ByApplication { get; init; }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Logging;

namespace WebSocketPool.Client.Internal;

/// <summary>
/// The client's log events (ids from 1, the client package's own range). The address is logged without its query, which
/// may carry a token; payloads are never logged.
/// </summary>
internal static partial class ClientLog
{
    [LoggerMessage(1, LogLevel.Information, "Connected to {Address}.", EventName = "Connected")]
    public static partial void Connected(ILogger logger, string address);

    [LoggerMessage(2, LogLevel.Information, "Reconnect attempt {Attempt} to {Address} in {DelayMilliseconds} ms ({CloseClass}): {Reason}.", EventName = "Reconnecting")]
    public static partial void Reconnecting(ILogger logger, int attempt, string address, long delayMilliseconds, WebSocketPoolCloseClass closeClass, string reason);

    [LoggerMessage(3, LogLevel.Information, "Reconnected to {Address} after {Attempts} attempts.", EventName = "Reconnected")]
    public static partial void Reconnected(ILogger logger, string address, int attempts);

    [LoggerMessage(4, LogLevel.Warning, "{Address} refused the connection with {StatusCode} ({Reason}); Retry-After {RetryAfter}.", EventName = "Refused")]
    public static partial void Refused(ILogger logger, string address, int statusCode, string? reason, TimeSpan? retryAfter);

    [LoggerMessage(5, LogLevel.Information, "The client of {Address} closed for good ({CloseClass}): {Description}.", EventName = "Closed")]
    public static partial void Closed(ILogger logger, string address, WebSocketPoolCloseClass closeClass, string description, Exception? exception);

    [LoggerMessage(6, LogLevel.Warning, "A {EventName} event handler threw; the client carries on.", EventName = "EventHandlerFailed")]
    public static partial void EventHandlerFailed(ILogger logger, string eventName, Exception exception);

    [LoggerMessage(7, LogLevel.Warning, "{Count} queued messages were not sent: the client closed.", EventName = "SendsDropped")]
    public static partial void SendsDropped(ILogger logger, int count);

    [LoggerMessage(8, LogLevel.Debug, "The connection attempt to {Address} failed: {Message}", EventName = "AttemptFailed")]
    public static partial void AttemptFailed(ILogger logger, string address, string message);
}

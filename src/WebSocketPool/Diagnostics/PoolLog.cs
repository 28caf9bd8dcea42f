// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Logging;

namespace WebSocketPool.Internal;

/// <summary>
/// The pool's log events, with fixed ids and names (docs/observability.md lists them). They are written with the logger
/// of <see cref="PooledWebSocketManagerFactory"/>, so their category stays the one users filter on. User keys and message
/// payloads are never logged: keys may be personal data, payloads anything at all.
/// </summary>
internal static partial class PoolLog
{
    [LoggerMessage(1, LogLevel.Information, "WebSocket refused before the upgrade: {Reason} ({Current}/{Limit}).", EventName = "ConnectionRejected")]
    public static partial void Rejected(ILogger logger, string reason, int current, int limit);

    [LoggerMessage(2, LogLevel.Debug, "WebSocket {ConnectionId} connected.", EventName = "Connected")]
    public static partial void Connected(ILogger logger, string connectionId);

    [LoggerMessage(3, LogLevel.Debug, "WebSocket {ConnectionId} ended: {Reason} (close code {CloseCode}).", EventName = "Disconnected")]
    public static partial void Disconnected(ILogger logger, string connectionId, DisconnectReason reason, int? closeCode);

    [LoggerMessage(4, LogLevel.Information, "WebSocket {ConnectionId} evicted (4001): replaced by a newer connection of the same user.", EventName = "ConnectionEvicted")]
    public static partial void Evicted(ILogger logger, string connectionId);

    [LoggerMessage(5, LogLevel.Information, "WebSocket {ConnectionId} kicked with close code {CloseCode}.", EventName = "ConnectionKicked")]
    public static partial void Kicked(ILogger logger, string connectionId, int closeCode);

    [LoggerMessage(6, LogLevel.Warning, "WebSocket {ConnectionId} is a slow consumer: its send queue overflowed; closing with 4002.", EventName = "SlowConsumer")]
    public static partial void SlowConsumer(ILogger logger, string connectionId);

    [LoggerMessage(7, LogLevel.Information, "WebSocket {ConnectionId} stopped answering keep-alive pings and was aborted.", EventName = "KeepAliveTimeout")]
    public static partial void KeepAliveTimeout(ILogger logger, string connectionId);

    [LoggerMessage(8, LogLevel.Warning, "WebSocket {ConnectionId}: a send or the closing handshake exceeded the send timeout; aborting.", EventName = "SendTimeout")]
    public static partial void SendTimedOut(ILogger logger, string connectionId);

    [LoggerMessage(9, LogLevel.Error, "The WebSocket handler failed for connection {ConnectionId}; closing it with 1011.", EventName = "HandlerFailed")]
    public static partial void HandlerFailed(ILogger logger, string connectionId, Exception exception);

    [LoggerMessage(10, LogLevel.Information, "Draining WebSockets: sending 1001 to {Count} open connections.", EventName = "DrainStarted")]
    public static partial void DrainStarted(ILogger logger, int count);

    [LoggerMessage(11, LogLevel.Warning, "Drain timeout reached: aborting {Count} WebSockets that did not close.", EventName = "DrainAborted")]
    public static partial void DrainAborted(ILogger logger, int count);

    [LoggerMessage(12, LogLevel.Information, "Drain finished after {ElapsedMs:F0} ms; {Left} WebSockets left.", EventName = "DrainFinished")]
    public static partial void DrainFinished(ILogger logger, double elapsedMs, int left);

    [LoggerMessage(13, LogLevel.Warning, "A user reached {Connections} of {Limit} allowed connections (alert threshold).", EventName = "UserNearLimit")]
    public static partial void UserNearLimit(ILogger logger, int connections, int limit);

    [LoggerMessage(14, LogLevel.Error, "A UserNearLimit subscriber threw.", EventName = "NearLimitHandlerFailed")]
    public static partial void NearLimitHandlerFailed(ILogger logger, Exception exception);

    [LoggerMessage(15, LogLevel.Error, "The admission gate threw while releasing a connection's slot.", EventName = "GateReleaseFailed")]
    public static partial void GateReleaseFailed(ILogger logger, Exception exception);

    [LoggerMessage(16, LogLevel.Error, "WebSocketPool caught an unexpected failure in its {Where}; the connection it concerned was ended.", EventName = "UnexpectedFailure")]
    public static partial void UnexpectedFailure(ILogger logger, string where, Exception exception);

    [LoggerMessage(17, LogLevel.Information, "WebSocket {ConnectionId}: a message stayed incomplete past the message assembly timeout; closing with 1008.", EventName = "MessageAssemblyTimeout")]
    public static partial void MessageAssemblyTimeout(ILogger logger, string connectionId);

    [LoggerMessage(18, LogLevel.Information, "WebSocket {ConnectionId}: its authentication expired; closing with 4005.", EventName = "AuthenticationExpired")]
    public static partial void AuthenticationExpired(ILogger logger, string connectionId);

    [LoggerMessage(80, LogLevel.Information, "WebSocket {ConnectionId}: dropped ({Reason}); its session is held for a resume.", EventName = "SessionHeld")]
    public static partial void SessionHeld(ILogger logger, string connectionId, DisconnectReason reason);

    [LoggerMessage(81, LogLevel.Information, "WebSocket {ConnectionId}: resumed; {Replayed} messages replayed.", EventName = "SessionResumed")]
    public static partial void SessionResumed(ILogger logger, string connectionId, int replayed);

    [LoggerMessage(82, LogLevel.Information, "WebSocket {ConnectionId}: its held session ended without a resume ({Outcome}).", EventName = "SessionExpired")]
    public static partial void SessionExpired(ILogger logger, string connectionId, string outcome);

    [LoggerMessage(83, LogLevel.Information, "A resume was refused with 4004: {Why}.", EventName = "ResumeRefused")]
    public static partial void ResumeRefused(ILogger logger, string why);

    [LoggerMessage(84, LogLevel.Warning, "A resume presented a session token issued to another user; refused with 4004.", EventName = "ResumeTokenOfAnotherUser")]
    public static partial void ResumeTokenOfAnotherUser(ILogger logger);

    [LoggerMessage(20, LogLevel.Error, "Self-audit found {Mismatches} mismatches between counted leases and live sockets; repaired {Repaired}.", EventName = "AuditMismatch")]
    public static partial void AuditMismatch(ILogger logger, int mismatches, int repaired);

    [LoggerMessage(50, LogLevel.Warning,
        "No WebSocket handler is registered: connections to {Path} are accepted and their messages ignored. Register one with AddWebSocketPooling().AddHandler<THandler>().",
        EventName = "NoHandlerRegistered")]
    public static partial void NoHandlerRegistered(ILogger logger, string path);

    [LoggerMessage(51, LogLevel.Warning,
        "A request reached the WebSocket pool at {Path} before authentication ran for it, so it has no user. Call app.UseAuthentication() before app.UseWebSocketPooling(). Logged once.",
        EventName = "AuthenticationNotRun")]
    public static partial void AuthenticationNotRun(ILogger logger, string path);

    [LoggerMessage(70, LogLevel.Warning, "An operator kicked a user from the dashboard: {Closed} connections on this node closed with 4003.", EventName = "DashboardKick")]
    public static partial void DashboardKick(ILogger logger, int closed);

    [LoggerMessage(60, LogLevel.Warning,
        "The WebSocket pools' MaxConnections add up to {Total}, above Kestrel's MaxConcurrentUpgradedConnections {Upgraded}: a WebSocket a pool admits beyond Kestrel's limit fails its upgrade. Lower the pools' MaxConnections, set them in configuration (WebSocketPool:Pools:{{name}}:MaxConnections) so that Kestrel is sized for them, or raise Kestrel's limit.",
        EventName = "PoolsAboveUpgradedLimit")]
    public static partial void PoolsAboveUpgradedLimit(ILogger logger, long total, long upgraded);
}

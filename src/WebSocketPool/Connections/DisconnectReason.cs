// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool;

/// <summary>Why a pooled connection ended.</summary>
public enum DisconnectReason
{
    /// <summary>The client sent a close frame.</summary>
    ClientClosed = 0,

    /// <summary>The app closed the connection.</summary>
    ServerClosed = 1,

    /// <summary>The connection dropped without a closing handshake (reset, request aborted, send timeout).</summary>
    Aborted = 2,

    /// <summary>The peer stopped answering keep-alive pings.</summary>
    KeepAliveTimeout = 3,

    /// <summary>A newer connection of the same user replaced this one (4001).</summary>
    Evicted = 4,

    /// <summary>The server kicked the connection (4003).</summary>
    Kicked = 5,

    /// <summary>The outbound queue overflowed (4002).</summary>
    SlowConsumer = 6,

    /// <summary>The server is shutting down (1001).</summary>
    Shutdown = 7,

    /// <summary>The app's handler threw (1011).</summary>
    HandlerError = 8,

    /// <summary>An incoming message exceeded <see cref="WebSocketPoolOptions.MaxMessageBytes"/> (1009).</summary>
    MessageTooBig = 9,

    /// <summary>The peer broke the WebSocket protocol (1002 or 1007).</summary>
    ProtocolError = 10,

    /// <summary>The user exceeded the message rate limit and the handler chose to close (1008).</summary>
    PolicyViolation = 11,

    /// <summary>A message stayed incomplete longer than <see cref="WebSocketPoolOptions.MessageAssemblyTimeout"/> (1008).</summary>
    MessageAssemblyTimeout = 12,

    /// <summary>
    /// The authentication the connection was opened with expired
    /// (<see cref="WebSocketPoolOptions.CloseOnAuthenticationExpiration"/>, 4005).
    /// </summary>
    AuthenticationExpired = 13,
}

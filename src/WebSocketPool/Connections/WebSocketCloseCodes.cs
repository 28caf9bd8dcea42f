// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool;

/// <summary>The close codes the pool sends, beside the standard ones of RFC 6455.</summary>
public static class WebSocketCloseCodes
{
    /// <summary>1000: normal close, either side.</summary>
    public const int Normal = 1000;

    /// <summary>1001: the server is draining on shutdown; clients may reconnect to another node or later.</summary>
    public const int GoingAway = 1001;

    /// <summary>1002: protocol error (raised by .NET).</summary>
    public const int ProtocolError = 1002;

    /// <summary>1007: invalid UTF-8 in a text message (raised by .NET).</summary>
    public const int InvalidPayload = 1007;

    /// <summary>
    /// 1008: policy violation: the per-user message rate limit when the app chooses to close, or a message left incomplete
    /// for longer than <see cref="WebSocketPoolOptions.MessageAssemblyTimeout"/> (reason "Message not completed in time.").
    /// </summary>
    public const int PolicyViolation = 1008;

    /// <summary>1009: a message was larger than <see cref="WebSocketPoolOptions.MaxMessageBytes"/>.</summary>
    public const int MessageTooBig = 1009;

    /// <summary>1011: the app's handler threw, or a send stuck past <see cref="WebSocketPoolOptions.SendTimeout"/>.</summary>
    public const int InternalError = 1011;

    /// <summary>4001: evicted, replaced by a newer connection of the same user. Terminal: clients should not reconnect.</summary>
    public const int Evicted = 4001;

    /// <summary>4002: slow consumer, the outbound queue overflowed. Clients may reconnect.</summary>
    public const int SlowConsumer = 4002;

    /// <summary>4003: kicked by the server. Terminal.</summary>
    public const int Kicked = 4003;

    /// <summary>Resume refused: the session cannot be resumed (expired, overflowed, unknown, another user's or node's); reconnect fresh at once.</summary>
    public const int ResumeRefused = 4004;

    /// <summary>
    /// 4005: the authentication the connection was opened with has expired
    /// (<see cref="WebSocketPoolOptions.CloseOnAuthenticationExpiration"/>), or the app closed it because the session was
    /// revoked. Terminal for the credentials used: clients must not reconnect with them, but sign in again (or obtain a
    /// fresh token) first, then connect.
    /// </summary>
    public const int AuthenticationExpired = 4005;
}

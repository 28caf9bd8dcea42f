// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Client.Internal;

/// <summary>
/// The close-code table of the WebSocketPool clients (the JavaScript client applies the same one): which close codes
/// and refusal statuses end the client, which are retried with backoff and which promptly.
/// </summary>
/// <remarks>
/// Codes the table does not name: 1000 from the server is terminal (the server ended the session on purpose; a client
/// that reconnected would undo it), any other is backoff (a server or proxy code the client does not know is more
/// likely a passing condition than a verdict, and backoff keeps a retry loop gentle). The same holds for refusal
/// statuses: only 401 and 403 are terminal.
/// </remarks>
internal static class ClosePolicy
{
    /// <summary>The class of a close code received from the server; <see langword="null"/> when no close frame came (1006).</summary>
    public static WebSocketPoolCloseClass ClassifyClose(int? closeCode) => closeCode switch
    {
        null or 1006 => WebSocketPoolCloseClass.Backoff,
        1000 or 1002 or 1007 or 1009 or 4001 or 4003 => WebSocketPoolCloseClass.Terminal,
        1001 or 1012 or 4004 => WebSocketPoolCloseClass.Prompt,
        _ => WebSocketPoolCloseClass.Backoff,
    };

    /// <summary>The class of a refused handshake or preview by its HTTP status.</summary>
    public static WebSocketPoolCloseClass ClassifyRefusal(int statusCode) => statusCode switch
    {
        401 or 403 => WebSocketPoolCloseClass.Terminal,
        _ => WebSocketPoolCloseClass.Backoff,
    };
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;

namespace WebSocketPool.Internal;

/// <summary>Tells how a connection ended from the exception its receive loop saw and the state of its socket.</summary>
internal static class DisconnectClassifier
{
    public static DisconnectReason Classify(WebSocket socket, Exception exception, bool keepAlive)
    {
        if (exception is WebSocketException { InnerException: TimeoutException } || exception.InnerException is TimeoutException
            || (keepAlive && socket.State == WebSocketState.Aborted && socket.CloseStatus is null && AbortedByKeepAlive(socket)))
        {
            return DisconnectReason.KeepAliveTimeout;
        }

        // CloseStatus is what the peer sent. When .NET itself fails the connection for the peer's protocol error (1002) or
        // invalid UTF-8 (1007), it sends that close and throws Faulted (or HeaderError for a bad frame header) from the
        // receive, with no close status of the peer's; a transport failure or an abort throws other error codes.
        return socket.CloseStatus switch
        {
            WebSocketCloseStatus.ProtocolError or WebSocketCloseStatus.InvalidPayloadData => DisconnectReason.ProtocolError,
            WebSocketCloseStatus.MessageTooBig => DisconnectReason.MessageTooBig,
            _ => exception is WebSocketException { WebSocketErrorCode: WebSocketError.Faulted or WebSocketError.HeaderError }
                ? DisconnectReason.ProtocolError
                : DisconnectReason.Aborted,
        };
    }

    /// <summary>
    /// .NET aborts the socket itself on a keep-alive timeout, and the pending read then fails with whatever the transport
    /// reports (an abort or a cancellation). The timeout itself is kept by the socket: it is the inner exception of the
    /// next call on the aborted socket, which fails at once; other aborts have none.
    /// </summary>
    private static bool AbortedByKeepAlive(WebSocket socket)
    {
        try
        {
            var probe = socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None).AsTask();
            if (!probe.IsCompleted)
            {
                _ = probe.ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                return false;
            }

            return probe.Exception?.InnerException is WebSocketException { InnerException: WebSocketException };
        }
        catch (WebSocketException ex)
        {
            return ex.InnerException is WebSocketException;
        }
#pragma warning disable CA1031 // A failed probe only means "not a keep-alive timeout".
        catch (Exception)
#pragma warning restore CA1031
        {
            return false;
        }
    }
}

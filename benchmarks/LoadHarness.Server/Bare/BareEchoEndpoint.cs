// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Buffers;
using System.Net.WebSockets;

namespace LoadHarness.Server.Bare;

/// <summary>
/// The bare Kestrel server: accepts every WebSocket on <c>/ws</c> (no admission checks), echoes each message, and
/// while idle waits with a zero-byte <c>ReceiveAsync</c> so that it holds no receive buffer; a buffer is rented from
/// <see cref="ArrayPool{T}"/> only once data has arrived, and returned after the echo.
/// </summary>
internal static class BareEchoEndpoint
{
    private const int MaxMessageBytes = 64 * 1024;

    public static async Task HandleAsync(HttpContext context, BareRegistry registry, ReleaseLog releases)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }

        var user = context.Request.Query["user"].ToString();
        var tag = ReleaseLog.TagOf(context);
        using var socket = await context.WebSockets.AcceptWebSocketAsync().ConfigureAwait(false);
        var connection = new BareConnection(socket, string.IsNullOrEmpty(user) ? "anonymous" : user);
        registry.Add(connection);
        try
        {
            await EchoAsync(connection, context.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or OperationCanceledException or ObjectDisposedException
                                       or Microsoft.AspNetCore.Connections.ConnectionAbortedException)
        {
            socket.Abort();
        }
        finally
        {
            registry.Remove(connection);
            releases.Record(tag);
        }
    }

    private static async Task EchoAsync(BareConnection connection, CancellationToken cancellationToken)
    {
        var socket = connection.Socket;
        while (true)
        {
            var first = await socket.ReceiveAsync(Memory<byte>.Empty, cancellationToken).ConfigureAwait(false);
            if (first.MessageType == WebSocketMessageType.Close)
            {
                await CloseAsync(connection, cancellationToken).ConfigureAwait(false);
                return;
            }

            var buffer = ArrayPool<byte>.Shared.Rent(4096);
            try
            {
                var length = 0;
                var end = first.EndOfMessage;
                while (!end)
                {
                    if (length == buffer.Length)
                    {
                        if (length >= MaxMessageBytes)
                        {
                            await socket.CloseOutputAsync(WebSocketCloseStatus.MessageTooBig, null, cancellationToken).ConfigureAwait(false);
                            return;
                        }

                        var next = ArrayPool<byte>.Shared.Rent(length * 2);
                        buffer.AsSpan(0, length).CopyTo(next);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = next;
                    }

                    var result = await socket.ReceiveAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        await CloseAsync(connection, cancellationToken).ConfigureAwait(false);
                        return;
                    }

                    length += result.Count;
                    end = result.EndOfMessage;
                }

                await connection.SendAsync(buffer.AsMemory(0, length), first.MessageType, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    private static async Task CloseAsync(BareConnection connection, CancellationToken cancellationToken)
    {
        await connection.SendLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (connection.Socket.State == WebSocketState.CloseReceived)
            {
                await connection.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            connection.SendLock.Release();
        }
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Buffers;
using System.Net.WebSockets;

namespace LoadHarness.Server.Bare;

/// <summary>
/// The bare Kestrel server with a writer per connection (mode <c>barequeued</c>): like <see cref="BareEchoEndpoint"/>
/// (zero-byte read while idle, a pooled buffer once data has arrived), but every send, the echo included, goes through
/// the connection's queue, as in the pool; an echoed payload is copied, as the pool's echo handler copies it.
/// </summary>
internal static class QueuedBareEchoEndpoint
{
    private const int MaxMessageBytes = 64 * 1024;

    public static async Task HandleAsync(HttpContext context, QueuedBareRegistry registry, ReleaseLog releases)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }

        var user = context.Request.Query["user"].ToString();
        var tag = ReleaseLog.TagOf(context);
        using var socket = await context.WebSockets.AcceptWebSocketAsync().ConfigureAwait(false);
        var connection = new QueuedBareConnection(socket, string.IsNullOrEmpty(user) ? "anonymous" : user);
        registry.Add(connection);
        try
        {
            if (await EchoAsync(connection, context.RequestAborted).ConfigureAwait(false) && socket.State == WebSocketState.CloseReceived)
            {
                // The peer closed: what is queued goes out first, then the answer to its close.
                connection.Complete();
                await connection.Writer.ConfigureAwait(false);
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, context.RequestAborted).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or OperationCanceledException or ObjectDisposedException
                                       or Microsoft.AspNetCore.Connections.ConnectionAbortedException)
        {
            socket.Abort();
        }
        finally
        {
            registry.Remove(connection);
            connection.Complete();
            await connection.Writer.ConfigureAwait(false);
            releases.Record(tag);
        }
    }

    /// <returns><see langword="true"/> when the peer sent its close frame.</returns>
    private static async Task<bool> EchoAsync(QueuedBareConnection connection, CancellationToken cancellationToken)
    {
        var socket = connection.Socket;
        while (true)
        {
            var first = await socket.ReceiveAsync(Memory<byte>.Empty, cancellationToken).ConfigureAwait(false);
            if (first.MessageType == WebSocketMessageType.Close)
            {
                return true;
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
                            socket.Abort();
                            return false;
                        }

                        var next = ArrayPool<byte>.Shared.Rent(length * 2);
                        buffer.AsSpan(0, length).CopyTo(next);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = next;
                    }

                    var result = await socket.ReceiveAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        return true;
                    }

                    length += result.Count;
                    end = result.EndOfMessage;
                }

                connection.Send(buffer.AsSpan(0, length).ToArray());
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }
}

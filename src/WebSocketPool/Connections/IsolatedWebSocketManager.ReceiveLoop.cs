// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Buffers;
using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using WebSocketPool.Internal;

namespace WebSocketPool;

/// <summary>
/// The receive loop: zero-byte reads while idle, at most one byte past <see cref="WebSocketPoolOptions.MaxMessageBytes"/>
/// buffered, a message that stops arriving closed after <see cref="WebSocketPoolOptions.MessageAssemblyTimeout"/>, the
/// peer's close.
/// </summary>
internal sealed partial class IsolatedWebSocketManager
{
    private async Task ReceiveLoopAsync(WebSocket socket, WebSocketHandler handler, CancellationToken cancellationToken)
    {
        while (true)
        {
            // Idle connections hold no receive buffer and nothing of a message: this frame waits with a zero-byte read,
            // and a message is read and delivered by a frame of its own. Nor a second registration on the request's abort
            // token: the run's own (RunAsync) aborts the socket, which ends this read.
            var first = await socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None).ConfigureAwait(false);
            if (first.MessageType == WebSocketMessageType.Close)
            {
                OnCloseReceived(socket);
                return;
            }

            if (!await ReceiveMessageAsync(socket, handler, first, cancellationToken).ConfigureAwait(false))
            {
                return;
            }
        }
    }

    /// <summary>
    /// Reads the rest of the message whose first data <paramref name="first"/> announced, and delivers it. Its frame comes
    /// from a pool when the message does not complete at once, so a message allocates nothing either way.
    /// </summary>
    /// <returns><see langword="false"/> when the connection is done receiving (closed, closing, or failed).</returns>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> ReceiveMessageAsync(
        WebSocket socket, WebSocketHandler handler, ValueWebSocketReceiveResult first, CancellationToken cancellationToken)
    {
        var max = _factory.Options.MaxMessageBytes;

        // At most one byte past the limit is ever read: that byte is how a message over the limit is recognised.
        var cap = max + 1;
        byte[]? buffer = null;
        var length = 0;
        var type = first.MessageType;
        var end = first.EndOfMessage;
        var tooBig = false;
        try
        {
            while (!end)
            {
                if (buffer is null || length == Math.Min(buffer.Length, cap))
                {
                    if (length >= cap)
                    {
                        tooBig = true;
                        break;
                    }

                    var next = ArrayPool<byte>.Shared.Rent(Math.Min(Math.Max(length * 2, 4096), cap));
                    if (buffer is not null)
                    {
                        buffer.AsSpan(0, length).CopyTo(next);
                        ArrayPool<byte>.Shared.Return(buffer);
                    }

                    buffer = next;
                }

                var read = socket.ReceiveAsync(buffer.AsMemory(length, Math.Min(buffer.Length, cap) - length), cancellationToken);
                if (!read.IsCompleted)
                {
                    // The message is not all here: from now on it holds its buffer only for MessageAssemblyTimeout.
                    StartAssemblyClock();
                }

                var result = await read.ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    OnCloseReceived(socket);
                    return false;
                }

                length += result.Count;
                end = result.EndOfMessage;
            }

            StopAssemblyClock();
            if (tooBig || length > max)
            {
                _factory.Metrics.MessageTooBig();
                RequestClose(Generation, WebSocketCloseCodes.MessageTooBig, "Message too big.", DisconnectReason.MessageTooBig, discardPending: true);
                await DrainUntilCloseAsync(socket, cancellationToken).ConfigureAwait(false);
                return false;
            }

            if (Volatile.Read(ref _closeRequested) == 1)
            {
                // Closing: the peer may still send until it sees our close frame; such messages are not delivered.
                return true;
            }

            Volatile.Write(ref _lastReceivedTimestamp, _factory.TimeProvider.GetTimestamp());
            var start = 0;
            if (Volatile.Read(ref _resume) is { } resume)
            {
                // Under the resume protocol every client frame has a header: an ack is the protocol's, not the app's.
                var kind = ResumeFrames.ReadClientFrame(buffer is null ? [] : buffer.AsSpan(0, length), out var acknowledged, out start);
                if (kind == ResumeFrames.ClientFrameKind.Ack && resume.Acknowledge(acknowledged))
                {
                    return true;
                }

                if (kind != ResumeFrames.ClientFrameKind.Message)
                {
                    RequestClose(Generation, WebSocketCloseCodes.ProtocolError, "Invalid resume frame.", DisconnectReason.ProtocolError, discardPending: true);
                    await DrainUntilCloseAsync(socket, cancellationToken).ConfigureAwait(false);
                    return false;
                }
            }

            _factory.Metrics.MessageReceived(length - start);

            if (!_factory.TryAcquireMessageToken(this))
            {
                if (!await InvokeHandlerAsync(HandlerCallback.RateLimited, handler, _handle, default, cancellationToken).ConfigureAwait(false))
                {
                    await DrainUntilCloseAsync(socket, cancellationToken).ConfigureAwait(false);
                    return false;
                }

                MarkRateLimitClose();
                return true;
            }

            var payload = buffer is null ? ReadOnlyMemory<byte>.Empty : buffer.AsMemory(start, length - start);
            if (!await InvokeHandlerAsync(HandlerCallback.Message, handler, _handle, new WebSocketMessage(type, payload), cancellationToken).ConfigureAwait(false))
            {
                await DrainUntilCloseAsync(socket, cancellationToken).ConfigureAwait(false);
                return false;
            }
        }
        finally
        {
            StopAssemblyClock();
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        return true;
    }

    /// <summary>After the server started closing, reads and discards until the peer's close frame (or the close deadline aborts).</summary>
    private static async Task DrainUntilCloseAsync(WebSocket socket, CancellationToken cancellationToken)
    {
        var scratch = ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            while (socket.State is WebSocketState.Open or WebSocketState.CloseSent)
            {
                var result = await socket.ReceiveAsync(scratch.AsMemory(), cancellationToken).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    private void OnCloseReceived(WebSocket socket)
    {
        if (Volatile.Read(ref _closeRequested) == 1)
        {
            // The peer answered the close frame the server sent.
            return;
        }

        SetReason(DisconnectReason.ClientClosed);
        var code = socket.CloseStatus is { } status ? (int)status : WebSocketCloseCodes.Normal;
        if (code is 1005 or 1006 or 1015)
        {
            code = WebSocketCloseCodes.Normal;
        }

        RequestClose(Generation, code, null, DisconnectReason.ClientClosed, discardPending: true);
    }

    /// <summary>A close with 1008 started by the rate-limit callback ends the connection as a policy violation.</summary>
    private void MarkRateLimitClose()
    {
        lock (this)
        {
            if (_closeRequested == 1 && _closeCode == WebSocketCloseCodes.PolicyViolation && _reason == DisconnectReason.ServerClosed)
            {
                _reason = DisconnectReason.PolicyViolation;
            }
        }
    }
}

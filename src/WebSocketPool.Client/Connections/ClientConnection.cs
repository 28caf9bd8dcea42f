// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Buffers;
using System.Net.WebSockets;
using System.Threading.Channels;

namespace WebSocketPool.Client.Internal;

/// <summary>
/// One open <see cref="ClientWebSocket"/>: a receive loop that assembles whole messages into the client's receive queue,
/// and one writer that drains the client's send queue. It ends when the server closes, the socket drops, or the
/// application stops (then queued sends are written and the closing handshake is made, within the close timeout).
/// </summary>
internal sealed class ClientConnection : IDisposable
{
    private const int ReceiveChunkBytes = 16 * 1024;

    private readonly ClientWebSocket _socket;
    private readonly ConnectionSettings _settings;
    private readonly SendQueue _sendQueue;
    private readonly ChannelWriter<WebSocketPoolClientMessage> _received;
    private readonly TimeProvider _time;

    // Under the resume protocol: the session's state, and one send at a time (the writer's messages and the acks).
    private readonly ResumeState? _resume;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private ITimer? _ackTimer;

    public ClientConnection(ClientWebSocket socket, ConnectionSettings settings, SendQueue sendQueue, ChannelWriter<WebSocketPoolClientMessage> received, TimeProvider time)
    {
        _socket = socket;
        _settings = settings;
        _sendQueue = sendQueue;
        _received = received;
        _time = time;
        _resume = settings.Resume is { } resume && ResumeState.IsResume(socket.SubProtocol) ? resume : null;
    }

    public string? SubProtocol => ResumeState.AppSubProtocol(_socket.SubProtocol);

    /// <summary>Gets a value indicating whether the connection speaks the resume protocol (its frames carry headers).</summary>
    public bool IsFramed => _resume is not null;

    /// <summary>
    /// Under the resume protocol, reads the session frame that opens the connection; <see langword="null"/> once it came,
    /// or how the connection ended instead (4004: the session cannot be resumed).
    /// </summary>
    public async Task<ConnectionEnd?> OpenSessionAsync(bool presented, CancellationToken stop)
    {
        if (_resume is null)
        {
            return null;
        }

        var buffer = new byte[4096];
        try
        {
            using var timer = new CancellationTokenSource(_settings.ConnectTimeout, _time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(stop, timer.Token);
            var result = await _socket.ReceiveAsync(buffer.AsMemory(), linked.Token).ConfigureAwait(false);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return await ServerClosedAsync(stop).ConfigureAwait(false);
            }

            if (!result.EndOfMessage || ResumeState.Read(buffer.AsSpan(0, result.Count), out var token, out _, out _) != 's')
            {
                return new ConnectionEnd(null, "the server did not open the resume session", null, ByApplication: false);
            }

            _resume.Session(token!, presented);
            return null;
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException)
        {
            if (stop.IsCancellationRequested)
            {
                return new ConnectionEnd(1000, "stopped by the application", null, ByApplication: true);
            }

            return new ConnectionEnd(null, "the connection was lost before its session opened (1006): " + ex.Message, ex, ByApplication: false);
        }
    }

    /// <summary>Runs the connection until it ends; <paramref name="stop"/> closes it gracefully.</summary>
    public async Task<ConnectionEnd> RunAsync(CancellationToken stop)
    {
        using var abort = new CancellationTokenSource();
        using var drain = CancellationTokenSource.CreateLinkedTokenSource(stop, abort.Token);
        var writer = WriteLoopAsync(abort.Token, drain.Token);
        var receiver = ReceiveLoopAsync(abort.Token, drain.Token);
        var stopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        ConnectionEnd end;
        using (stop.Register(static s => ((TaskCompletionSource)s!).TrySetResult(), stopped))
        {
            if (await Task.WhenAny(receiver, stopped.Task).ConfigureAwait(false) == receiver)
            {
                end = await receiver.ConfigureAwait(false);
            }
            else
            {
                await CloseGracefullyAsync(writer, receiver).ConfigureAwait(false);
                end = new ConnectionEnd(1000, "stopped by the application", null, ByApplication: true);
            }
        }

        await abort.CancelAsync().ConfigureAwait(false);
        _socket.Abort();
        await Task.WhenAll(writer, receiver).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        return end;
    }

    public void Dispose()
    {
        _ackTimer?.Dispose();
        _socket.Dispose();
        _sendLock.Dispose();
    }

    private async Task CloseGracefullyAsync(Task writer, Task<ConnectionEnd> receiver)
    {
        using var timeout = new CancellationTokenSource(_settings.CloseTimeout, _time);
        try
        {
            // The writer sees the stop, writes what is queued and returns; then the closing handshake.
            await writer.WaitAsync(timeout.Token).ConfigureAwait(false);
            if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "client stopped", timeout.Token).ConfigureAwait(false);
            }

            await receiver.WaitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException or ObjectDisposedException)
        {
            // Out of time or the socket is gone: the caller aborts it.
        }
    }

    private async Task WriteLoopAsync(CancellationToken abort, CancellationToken drain)
    {
        await Task.Yield();
        try
        {
            while (!abort.IsCancellationRequested)
            {
                while (!abort.IsCancellationRequested && _sendQueue.TryDequeue(out var message))
                {
                    // A message whose write fails with the connection is lost (at most once): it may have arrived.
                    await _sendLock.WaitAsync(abort).ConfigureAwait(false);
                    try
                    {
                        if (_resume is not null)
                        {
                            await _socket.SendAsync(ResumeState.MessageHeader, message.MessageType, endOfMessage: false, abort).ConfigureAwait(false);
                        }

                        await _socket.SendAsync(message.Payload, message.MessageType, endOfMessage: true, abort).ConfigureAwait(false);
                    }
                    finally
                    {
                        _sendLock.Release();
                    }
                }

                if (drain.IsCancellationRequested)
                {
                    return;
                }

                try
                {
                    if (!await _sendQueue.WaitToReadAsync(drain).ConfigureAwait(false))
                    {
                        return;
                    }
                }
                catch (OperationCanceledException)
                {
                    // Stopping: the next round writes what is left, then returns.
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException)
        {
            // The socket failed under a write: end the connection, so that the receive loop reports how.
            _socket.Abort();
        }
    }

    /// <param name="abort">Ends the loop.</param>
    /// <param name="stopping">Set once the application stops: a message that finds the receive queue full is then dropped
    /// rather than waited for, so that a stop never waits on a reader that has gone.</param>
    private async Task<ConnectionEnd> ReceiveLoopAsync(CancellationToken abort, CancellationToken stopping)
    {
        await Task.Yield();
        var chunk = ArrayPool<byte>.Shared.Rent(ReceiveChunkBytes);
        var assembled = new ArrayBufferWriter<byte>(ReceiveChunkBytes);
        try
        {
            while (true)
            {
                var result = await _socket.ReceiveAsync(chunk.AsMemory(), abort).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return await ServerClosedAsync(abort).ConfigureAwait(false);
                }

                if (assembled.WrittenCount + result.Count > _settings.MaxReceiveMessageBytes)
                {
                    return await TooBigAsync(abort).ConfigureAwait(false);
                }

                assembled.Write(chunk.AsSpan(0, result.Count));
                if (result.EndOfMessage)
                {
                    // The message owns a copy of exactly its bytes; the assembly buffer is reused.
                    var start = 0;
                    if (_resume is not null)
                    {
                        var kind = ResumeState.Read(assembled.WrittenSpan, out var token, out var sequence, out start);
                        if (kind == 's')
                        {
                            _resume.Session(token!, resumed: true);
                        }

                        if (kind != 'm' || !_resume.Received(sequence))
                        {
                            // A session frame, a message already delivered, or a frame this client does not know.
                            assembled.ResetWrittenCount();
                            continue;
                        }
                    }

                    var message = new WebSocketPoolClientMessage(assembled.WrittenSpan[start..].ToArray(), result.MessageType);
                    assembled.ResetWrittenCount();
                    if (_resume is not null)
                    {
                        await AcknowledgeAsync(force: false, abort).ConfigureAwait(false);
                    }

                    try
                    {
                        await _received.WriteAsync(message, stopping).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (stopping.IsCancellationRequested && !abort.IsCancellationRequested)
                    {
                        // Stopping, and nobody takes messages: keep reading, so the closing handshake completes.
                    }
                }
            }
        }
        catch (ChannelClosedException)
        {
            return new ConnectionEnd(1000, "the client closed", null, ByApplication: true);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException)
        {
            return _socket.CloseStatus is { } status
                ? new ConnectionEnd((int)status, _socket.CloseStatusDescription ?? string.Empty, null, ByApplication: false)
                : new ConnectionEnd(null, "the connection was lost without a close frame (1006): " + ex.Message, ex, ByApplication: false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    /// <summary>
    /// Cumulative acks in batches: at once after <see cref="ResumeState.AckEvery"/> messages, and within
    /// <see cref="ResumeState.AckDelay"/> of the first one not yet acknowledged.
    /// </summary>
    private async Task AcknowledgeAsync(bool force, CancellationToken abort)
    {
        if (_resume!.TakeAck(force) is { } sequence)
        {
            await _sendLock.WaitAsync(abort).ConfigureAwait(false);
            try
            {
                await _socket.SendAsync(ResumeState.Ack(sequence), WebSocketMessageType.Text, endOfMessage: true, abort).ConfigureAwait(false);
            }
            finally
            {
                _sendLock.Release();
            }
        }

        if (_resume.Unacknowledged)
        {
            _ackTimer ??= _time.CreateTimer(static state => ((ClientConnection)state!).OnAckDue(), this, ResumeState.AckDelay, Timeout.InfiniteTimeSpan);
        }
    }

    private void OnAckDue() => _ = AckDueAsync();

    private async Task AckDueAsync()
    {
        var timer = Interlocked.Exchange(ref _ackTimer, null);
        timer?.Dispose();
        try
        {
            await AcknowledgeAsync(force: true, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException)
        {
            // The connection is going; its receive loop reports how.
        }
    }

    private async Task<ConnectionEnd> ServerClosedAsync(CancellationToken abort)
    {
        var status = _socket.CloseStatus is { } code ? (int?)code : null;
        var description = _socket.CloseStatusDescription ?? string.Empty;
        if (_socket.State == WebSocketState.CloseReceived)
        {
            // Complete the closing handshake, echoing the server's code, within the close timeout.
            using var timer = new CancellationTokenSource(_settings.CloseTimeout, _time);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(abort, timer.Token);
            try
            {
                await _socket.CloseOutputAsync(_socket.CloseStatus ?? WebSocketCloseStatus.Empty, null, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException)
            {
                // The server is gone already; its code stands.
            }
        }

        return new ConnectionEnd(status, description, null, ByApplication: false);
    }

    private async Task<ConnectionEnd> TooBigAsync(CancellationToken abort)
    {
        var description = $"a message was larger than MaxReceiveMessageBytes ({_settings.MaxReceiveMessageBytes})";
        using var timer = new CancellationTokenSource(_settings.CloseTimeout, _time);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(abort, timer.Token);
        try
        {
            await _socket.CloseOutputAsync(WebSocketCloseStatus.MessageTooBig, "message too big", timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException)
        {
            // Aborted by the caller next.
        }

        return new ConnectionEnd((int)WebSocketCloseStatus.MessageTooBig, description, null, ByApplication: false);
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using System.Threading.Channels;
using WebSocketPool.Internal;

namespace WebSocketPool;

/// <summary>The single writer draining the bounded outbound queue, and the queueing itself (the slow-consumer policy).</summary>
internal sealed partial class IsolatedWebSocketManager
{
    private static readonly Action<Outbound> s_onDropped = static dropped =>
    {
        s_droppedOldest = true;
        s_droppedBytes += dropped.Payload.Length;
    };

    // Set by the DropOldest callback during this thread's TryWrite, so the sender learns that its write dropped one.
    [ThreadStatic]
    private static bool s_droppedOldest;

    // The dropped message's bytes, which a resumable session no longer has to keep.
    [ThreadStatic]
    private static int s_droppedBytes;

    // The manager whose handler callback runs on this thread (its synchronous part): a message it queues on its own
    // connection is sent from this thread when the writer is idle (WriteLoopAsync).
    [ThreadStatic]
    private static IsolatedWebSocketManager? s_handlerRunning;

    /// <summary>
    /// The single writer of a connection. A send that completes at once (the usual case) touches no timer; one that has
    /// to wait arms the send deadline once (one timer-queue operation) and simply leaves it to lapse afterwards. Never
    /// throws: any failure, including one from <c>CloseOutputAsync</c>, aborts the socket and ends the loop.
    /// </summary>
    /// <param name="socket">The socket.</param>
    /// <param name="queue">The send queue.</param>
    /// <param name="replay">On a resume, the messages the client missed, sent first with their own sequences.</param>
    /// <param name="stop">Stops the loop without completing the queue, when a resumable session is held.</param>
    /// <param name="previous">A writer whose queue was given back while idle: it may still send what slipped into that queue, so this one starts after it (one writer per socket at a time).</param>
    private async Task WriteLoopAsync(WebSocket socket, Channel<Outbound> queue, ResumeSession.Buffered[]? replay, Task? previous, CancellationToken stop)
    {
        var reader = queue.Reader;
        try
        {
            if (previous is not null)
            {
                await previous.ConfigureAwait(false);
            }

            var resume = Volatile.Read(ref _resume);
            if (resume is not null && !_discardPending)
            {
                // The session frame comes first (docs/resume-protocol.md): the token to present on a reconnect.
                await SendFrameAsync(socket, ResumeFrames.SessionFrame(resume.Token, resume.Acknowledged), WebSocketMessageType.Text, endOfMessage: true).ConfigureAwait(false);
                foreach (var missed in replay ?? [])
                {
                    await SendFrameAsync(socket, ResumeFrames.MessageHeader(missed.Sequence), missed.Type, endOfMessage: false).ConfigureAwait(false);
                    await SendFrameAsync(socket, missed.Payload, missed.Type, endOfMessage: true).ConfigureAwait(false);
                }
            }

            while (true)
            {
                // The queue resumes a waiting writer on the thread that wrote to it. A reply queued by this connection's
                // own handler callback goes on the wire from there, at once, as a bare Kestrel handler's send would, with
                // no hop through the thread pool; any other wake-up (a fan-out, a completion, a stop) moves the writer to
                // the thread pool, so that no sender writes to other connections' sockets and a burst goes out in batches.
                var wait = reader.WaitToReadAsync(stop);
                bool more;
                if (wait.IsCompleted)
                {
                    more = wait.GetAwaiter().GetResult();
                }
                else
                {
                    more = await wait.ConfigureAwait(false);
                    if (!ReferenceEquals(s_handlerRunning, this))
                    {
                        // To the thread pool, never to the waking sender's context (see NothingCurrent).
                        if (NothingCurrent)
                        {
                            await Task.Yield();
                        }
                        else
                        {
                            await Task.CompletedTask.ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
                        }
                    }
                }

                if (!more)
                {
                    break;
                }

                while (reader.TryRead(out var message))
                {
                    if (_discardPending)
                    {
                        continue;
                    }

                    if (resume is not null)
                    {
                        // Numbered here, by the single writer, so sequences follow the order on the wire. The header goes
                        // as the message's first fragment: the payload is sent as it is, never copied.
                        var sequence = resume.Append(message.Payload, message.Type);
                        await SendFrameAsync(socket, ResumeFrames.MessageHeader(sequence), message.Type, endOfMessage: false).ConfigureAwait(false);
                    }

                    await SendFrameAsync(socket, message.Payload, message.Type, endOfMessage: true).ConfigureAwait(false);
                    _factory.Metrics.MessageSent(message.Payload.Length);
                }
            }

            // A queue given back while idle ends its writer without a close: the close, if any, is the next writer's.
            if (ReferenceEquals(Volatile.Read(ref _queue), queue))
            {
                await SendCloseFrameAsync(socket).ConfigureAwait(false);
            }
        }
#pragma warning disable CA1031 // A failed send or close costs this connection only: abort it, never let it escape.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            OnWriteFailed(socket, ex, "write loop");
        }
    }

    /// <summary>
    /// Gets a value indicating whether neither a <see cref="SynchronizationContext"/> nor a scheduler other than the
    /// default is current. A hop to the thread pool then awaits <see cref="Task.Yield"/>, which queues on this thread's
    /// own work queue (so a burst of sends wakes its writers in a batch) and, being the runtime's own awaiter, queues the
    /// state machine itself without allocating. Otherwise <c>Task.Yield</c> would post to that context (an app's UI or test
    /// context would then run, or starve, the writer), and the hop forces a yield that ignores it
    /// (<see cref="ConfigureAwaitOptions.ForceYielding"/>). Both awaits stay at each call site: wrapped in an awaiter of
    /// ours, the yield would lose that allocation-free path.
    /// </summary>
    private static bool NothingCurrent => SynchronizationContext.Current is null && TaskScheduler.Current == TaskScheduler.Default;

    /// <summary>
    /// The close frame of a lease that never sent anything: sent by this task instead of a queue and a writer made only
    /// for it (a client's close answered, a kick, a drain), and waited for by the run as a writer would be. Never throws.
    /// </summary>
    private async Task CloseWithoutQueueAsync(WebSocket socket, Task? previous)
    {
        // Started under the manager's lock: the close goes out from the thread pool, not from inside the caller's lock, and never from
        // the caller's SynchronizationContext or scheduler (see NothingCurrent).
        if (NothingCurrent)
        {
            await Task.Yield();
        }
        else
        {
            await Task.CompletedTask.ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
        }
        try
        {
            if (previous is not null)
            {
                // The writer of a queue given back while idle sends its last messages first.
                await previous.ConfigureAwait(false);
            }

            await SendCloseFrameAsync(socket).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // A failed close costs this connection only: abort it, never let it escape.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            OnWriteFailed(socket, ex, "close");
        }
    }

    /// <summary>The close frame, when one was asked for and the socket can still send it, within the send timeout.</summary>
    private async ValueTask SendCloseFrameAsync(WebSocket socket)
    {
        if (Volatile.Read(ref _closeRequested) == 1 && socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
        {
            ArmDeadline(_factory.Options.SendTimeout);
            await socket.CloseOutputAsync((WebSocketCloseStatus)_closeCode, _closeDescription, CancellationToken.None).ConfigureAwait(false);

            // The closing handshake gets the same budget as one send; a peer that never answers is aborted.
            ArmDeadline(_factory.Options.SendTimeout);
        }
    }

    private void OnWriteFailed(WebSocket socket, Exception ex, string what)
    {
        SetReason(DisconnectReason.Aborted);
        AbortQuietly(socket);
        if (ex is not (WebSocketException or OperationCanceledException or IOException or ObjectDisposedException
                or Microsoft.AspNetCore.Connections.ConnectionAbortedException))
        {
            _factory.OnUnexpectedFailure(what, ex);
        }
    }

    /// <summary>One send; one that cannot complete at once arms the send deadline.</summary>
    private async ValueTask SendFrameAsync(WebSocket socket, ReadOnlyMemory<byte> payload, WebSocketMessageType type, bool endOfMessage)
    {
        var send = socket.SendAsync(payload, type, endOfMessage, CancellationToken.None);
        if (!send.IsCompleted)
        {
            ArmDeadline(_factory.Options.SendTimeout);
            await send.ConfigureAwait(false);
            Volatile.Write(ref _deadlineGeneration, 0);
        }
        else
        {
            send.GetAwaiter().GetResult();
        }
    }

    /// <summary>Queues a message if <paramref name="generation"/> is still the current lease.</summary>
    internal SendResult Enqueue(long generation, ReadOnlyMemory<byte> payload, WebSocketMessageType type)
    {
        // Read the generation, then the queue, then the generation again: a queue read between two equal readings
        // belongs to that lease (a new lease always creates a new queue), so a stale handle cannot reach it.
        if (Volatile.Read(ref _generation) != generation)
        {
            return SendResult.StaleHandle;
        }

        var queue = Volatile.Read(ref _queue);
        if (Volatile.Read(ref _generation) != generation)
        {
            return SendResult.StaleHandle;
        }

        if (queue is null)
        {
            // The lease's first send: make the queue and its writer now (an idle connection never pays for them).
            queue = NextQueue(generation, seen: null, out var stale);
            if (stale)
            {
                return SendResult.StaleHandle;
            }
        }

        if (queue is null || _queueCompleted || Volatile.Read(ref _closeRequested) == 1)
        {
            return SendResult.Closed;
        }

        // A resumable session counts the message before it is queued: the writer may take it and number it (Append)
        // before TryWrite even returns, when it sends a handler's reply on the handler's thread.
        var resume = Volatile.Read(ref _resume);
        var overflowed = resume is not null && !resume.Reserve(payload.Length);

        s_droppedOldest = false;
        s_droppedBytes = 0;
        var written = queue.Writer.TryWrite(new Outbound(payload, type));
        if (!written)
        {
            // Refused: the queue is full, closed, or was given back meanwhile, when the write goes to the lease's next one.
            var next = NextQueue(generation, queue, out var stale);
            written = !stale && next is not null && next.Writer.TryWrite(new Outbound(payload, type));
            if (!written && resume is not null && !overflowed)
            {
                // Never queued: what was counted for it is free again.
                resume.Unreserve(payload.Length);
            }

            if (stale)
            {
                return SendResult.StaleHandle;
            }
        }

        if (written)
        {
            _queueUsed = true;

            // The channel calls its drop callback on the writing thread, inside TryWrite.
            var dropped = s_droppedOldest;
            var droppedBytes = s_droppedBytes;
            s_droppedOldest = false;
            s_droppedBytes = 0;
            if (dropped)
            {
                _factory.OnMessageDropped();
            }

            if (dropped && resume is not null)
            {
                // The dropped message never goes on the wire, so a resume will not replay it: its bytes are free again.
                resume.Unreserve(droppedBytes);
            }

            if (overflowed)
            {
                // More unacknowledged than the buffer holds: the session cannot be resumed; a held one ends now.
                OnResumeOverflowed();
            }

            return dropped ? SendResult.QueuedDroppedOldest : SendResult.Queued;
        }

        if (_queueCompleted || Volatile.Read(ref _closeRequested) == 1)
        {
            // Refused because the connection is closing or closed, not because the peer is slow.
            return SendResult.Closed;
        }

        // Only the Wait mode refuses a write on a full queue: the peer does not keep up.
        _factory.OnSlowConsumer(this);
        RequestClose(generation, WebSocketCloseCodes.SlowConsumer, "Slow consumer.", DisconnectReason.SlowConsumer, discardPending: true);
        return SendResult.SlowConsumerDisconnected;
    }

    /// <summary>
    /// Under the manager's lock: the lease's send queue, made together with its single writer on first use (the first send, or
    /// the close frame), or <see langword="null"/> when there is no accepted socket or the send side has closed.
    /// </summary>
    private Channel<Outbound>? GetOrCreateQueueLocked()
    {
        if (_queue is { } existing)
        {
            return existing;
        }

        if (_socket is not { } socket || _queueCompleted)
        {
            return null;
        }

        var options = _factory.Options;
        var dropOldest = options.SlowConsumerPolicy == SlowConsumerPolicy.DropOldest;
        var queue = Channel.CreateBounded<Outbound>(
            new BoundedChannelOptions(options.SendQueueCapacity)
            {
                SingleReader = true,
                SingleWriter = false,

                // The writer decides where it continues (WriteLoopAsync): on the thread of a reply from its own handler,
                // or on the thread pool.
                AllowSynchronousContinuations = true,
                FullMode = dropOldest ? BoundedChannelFullMode.DropOldest : BoundedChannelFullMode.Wait,
            },
            dropOldest ? s_onDropped : null);

        // The writer runs until its first await (the empty queue) before it is published: nothing of it waits on the manager's lock.
        _writer = WriteLoopAsync(socket, queue, replay: null, _givenBackWriter, _writerStop?.Token ?? CancellationToken.None);
        _givenBackWriter = null;
        _factory.OnSendQueueMade();
        Volatile.Write(ref _queue, queue);
        return queue;
    }

    /// <summary>
    /// Under the manager's lock, once a close was asked for: a lease with an accepted socket that never made its queue sends the
    /// close frame from <see cref="CloseWithoutQueueAsync"/>, and its send side is closed for good.
    /// </summary>
    private void StartCloseWithoutQueueLocked()
    {
        if (_queue is null && _writer is null && _socket is { } socket && !_queueCompleted)
        {
            _queueCompleted = true;
            _writer = CloseWithoutQueueAsync(socket, _givenBackWriter);
            _givenBackWriter = null;
        }
    }

    /// <summary>
    /// Closes the send side of the lease for good: no queue is made after this, and an existing one is completed, so its
    /// writer sends what is queued (unless discarded) and the close frame if one was asked for, then ends.
    /// </summary>
    /// <returns>The writer to wait for, or <see langword="null"/> when the lease never made one.</returns>
    private Task? CloseSendSide()
    {
        Channel<Outbound>? queue;
        Task? writer;
        lock (this)
        {
            _queueCompleted = true;
            queue = _queue;

            // A writer made after a give-back waits for the one before it; with none, the one before is waited for here.
            writer = _writer ?? _givenBackWriter;
        }

        queue?.Writer.TryComplete();
        return writer;
    }

    /// <summary>
    /// Gives the send queue and its writer back when the connection has sent nothing since the last call and nothing
    /// waits in the queue (<see cref="SendQueueSweep"/> calls it periodically): a connection that sent once and then went
    /// idle holds no more than one that never sent. The next send makes a new queue, whose writer starts after this one's
    /// last send. Resumable connections keep theirs (a held session's messages wait in it).
    /// </summary>
    /// <returns><see langword="true"/> when the queue was given back.</returns>
    internal bool GiveBackIdleQueue()
    {
        Channel<Outbound>? queue;
        lock (this)
        {
            queue = _queue;
            if (queue is null || _resume is not null || _queueCompleted || _closeRequested == 1)
            {
                return false;
            }

            if (_queueUsed)
            {
                // Used since the last look: looked at again next time.
                _queueUsed = false;
                return false;
            }

            if (queue.Reader.Count != 0)
            {
                return false;
            }

            Volatile.Write(ref _queue, null);
            _givenBackWriter = _writer;
            _writer = null;
        }

        // A send that read the old queue before this either got in (its writer sends it before ending) or is refused and
        // tries again on a new queue (NextQueue).
        queue.Writer.TryComplete();
        return true;
    }

    /// <summary>
    /// The queue a send of lease <paramref name="generation"/> goes to, when the queue it read was <paramref name="seen"/>:
    /// none yet (the lease's first send), or one that refused its write. It is the lease's current queue, made now (with
    /// its writer) if there is none; <see langword="null"/> when the send side has closed, or when <paramref name="seen"/>
    /// is still the current queue (it refused the write because it is full or closing).
    /// </summary>
    private Channel<Outbound>? NextQueue(long generation, Channel<Outbound>? seen, out bool stale)
    {
        lock (this)
        {
            stale = _generation != generation;
            if (stale || _closeRequested == 1 || (seen is not null && ReferenceEquals(_queue, seen)))
            {
                return null;
            }

            return GetOrCreateQueueLocked();
        }
    }

    internal readonly record struct Outbound(ReadOnlyMemory<byte> Payload, WebSocketMessageType Type);
}

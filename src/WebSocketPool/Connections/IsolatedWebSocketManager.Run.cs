// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http;
using WebSocketPool.Internal;

namespace WebSocketPool;

/// <summary>The run of one accepted socket, from its open to the one way out through <see cref="PooledWebSocketManagerFactory"/>.</summary>
internal sealed partial class IsolatedWebSocketManager
{
    /// <summary>
    /// Runs the accepted socket until it ends, then ends the lease. Never throws. Whatever happens inside (a handler, a
    /// logging provider, the socket), the <c>finally</c> below hands the lease to
    /// <see cref="PooledWebSocketManagerFactory.EndConnectionAsync"/>, which releases its slots, takes it out of the registry
    /// and the groups, calls <see cref="WebSocketHandler.OnDisconnectedAsync"/> and returns the manager.
    /// </summary>
    /// <param name="socket">The accepted socket.</param>
    /// <param name="handler">The app's handler.</param>
    /// <param name="requestAborted">The upgrade request's abort token.</param>
    /// <param name="authenticationExpiresAt">
    /// When the authentication the connection was opened with expires, if the pool closes connections then
    /// (<see cref="WebSocketPoolOptions.CloseOnAuthenticationExpiration"/>); <see langword="null"/> arms nothing.
    /// </param>
    /// <param name="httpContext">
    /// The upgrade request, reachable from the connection while the lease lives; <see langword="null"/> when the socket
    /// did not come through the middleware.
    /// </param>
    /// <param name="resume">The connection's resume state when it selected the resume protocol; <see langword="null"/> otherwise.</param>
    internal Task RunAsync(
        WebSocket socket, WebSocketHandler handler, CancellationToken requestAborted, DateTimeOffset? authenticationExpiresAt = null, HttpContext? httpContext = null,
        ResumeSession? resume = null)
    {
        // The synchronous start runs here, outside the async method: what only it needs (the request, the resume state, the
        // authentication's expiry) then has no field in the run's state machine, which lives as long as the connection.
        var generation = Generation;
        var writerStop = resume is not null ? new CancellationTokenSource() : null;
        var closedBeforeOpen = false;
        Exception? error = null;
        try
        {
            _handle = new WebSocketConnection(this, generation, GetConnectionId(), _userKey!);
            closedBeforeOpen = Open(socket, httpContext, resume, writerStop);
            _factory.OnConnectionOpened(this, generation, requestAborted);
            if (authenticationExpiresAt is { } expiresAt)
            {
                ArmAuthenticationExpiry(generation, expiresAt);
            }
        }
#pragma warning disable CA1031 // Whatever failed before the loops started, the lease still ends in RunOpenedAsync.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            error = ex;
            SetReason(DisconnectReason.Aborted);
        }

        return RunOpenedAsync(socket, handler, generation, writerStop, closedBeforeOpen, error, requestAborted);
    }

    /// <summary>Publishes the socket to the lease; true when a close was asked for while the handshake ran.</summary>
    private bool Open(WebSocket socket, HttpContext? httpContext, ResumeSession? resume, CancellationTokenSource? writerStop)
    {
        bool closedBeforeOpen;
        Channel<Outbound>? queue = null;
        lock (this)
        {
            Volatile.Write(ref _socket, socket);
            _httpContext = httpContext;
            _resume = resume;
            _writerStop = writerStop;

            // Kicked (or its user disconnected) while the handshake ran: close at once with that code. The queue and
            // its writer wait for the first send, except under resume, whose writer sends the session frame at once.
            closedBeforeOpen = _closeRequested == 1;
            if (resume is not null)
            {
                queue = GetOrCreateQueueLocked();
            }
            else if (closedBeforeOpen)
            {
                StartCloseWithoutQueueLocked();
            }
        }

        if (closedBeforeOpen && queue is not null)
        {
            CompleteQueue(queue);
        }

        return closedBeforeOpen;
    }

    /// <summary>
    /// The opened socket's run: its loops, then the end of its lease, whatever happened (<paramref name="error"/> set when
    /// the start itself failed, and then only the lease ends).
    /// </summary>
    private async Task RunOpenedAsync(
        WebSocket socket, WebSocketHandler handler, long generation, CancellationTokenSource? writerStop, bool closedBeforeOpen, Exception? error,
        CancellationToken requestAborted)
    {
        using (writerStop)
        {
            var connected = false;
            var holding = false;
            try
            {
                if (error is null)
                {
                    if (GateVictim is { } gateVictim)
                    {
                        GateVictim = null;
                        if (!requestAborted.IsCancellationRequested)
                        {
                            await _factory.EvictThroughGateAsync(_handle, gateVictim, requestAborted).ConfigureAwait(false);
                        }
                    }

                    try
                    {
                        using (requestAborted.UnsafeRegister(static s => ((IsolatedWebSocketManager)s!).OnRequestAborted(), this))
                        {
                            if (closedBeforeOpen)
                            {
                                await DrainUntilCloseAsync(socket, requestAborted).ConfigureAwait(false);
                            }
                            else
                            {
                                connected = true;
                                if (await InvokeHandlerAsync(HandlerCallback.Connecting, handler, _handle, default, requestAborted).ConfigureAwait(false)
                                    && await InvokeHandlerAsync(HandlerCallback.Connected, handler, _handle, default, requestAborted).ConfigureAwait(false))
                                {
                                    await ReceiveLoopAsync(socket, handler, requestAborted).ConfigureAwait(false);
                                }
                                else
                                {
                                    // OnConnectingAsync or OnConnectedAsync threw and the 1011 close is on its way: wait for the peer's answer (bounded by
                                    // the close deadline) instead of aborting at once, which would reset the socket before the frame.
                                    await DrainUntilCloseAsync(socket, requestAborted).ConfigureAwait(false);
                                }
                            }
                        }
                    }
#pragma warning disable CA1031 // Every failure of the socket ends this connection only; it is classified, never rethrown.
                    catch (Exception ex)
#pragma warning restore CA1031
                    {
                        error = ex;
                        SetFailureReason(socket, ex);
                    }
                    finally
                    {
                        holding = await StopWriterAsync(writerStop, connected).ConfigureAwait(false);
                    }
                }
            }
#pragma warning disable CA1031 // Whatever failed before the loops started, the lease still ends below.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                error ??= ex;
                SetReason(DisconnectReason.Aborted);
            }
            finally
            {
                await EndRunAsync(socket, generation, connected ? handler : null, holding, error).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The reason a run of the socket's loops failed with <paramref name="error"/>, as the classifier reads it.</summary>
    private void SetFailureReason(WebSocket socket, Exception error) =>
        SetReason(DisconnectClassifier.Classify(socket, error, _factory.Options.KeepAliveInterval > TimeSpan.Zero));

    /// <summary>
    /// Once the socket's loops have returned or failed: a session that may be held keeps its queue for the resumed socket
    /// and only stops its writer; any other closes its send side. The write loop catches everything itself; it ends once
    /// the queue is drained, it is stopped, or the socket is gone.
    /// </summary>
    /// <returns><see langword="true"/> when the session is to be held.</returns>
    private async ValueTask<bool> StopWriterAsync(CancellationTokenSource? writerStop, bool connected)
    {
        if (StopWriter(writerStop, connected, out var holding) is { } writer)
        {
            await writer.ConfigureAwait(false);
        }
        else
        {
            // No writer to wait for. When .NET itself failed the connection (1002, 1007 on the peer's protocol error), its
            // close frame may still be in the transport's output: one turn of the thread pool lets it leave before the
            // socket is ended (as waiting for a writer always did).
            await Task.Yield();
        }

        return holding;
    }

    /// <summary>
    /// The end of a run (first or resumed): the socket is ended, then the lease ends through the one release path or, a
    /// dropped resumable connection, is held for its client (IsolatedWebSocketManager.Resume) and ends later through the
    /// same path, when its window lapses or it is closed. Never throws.
    /// </summary>
    /// <param name="socket">The run's socket.</param>
    /// <param name="generation">The lease.</param>
    /// <param name="handler">The handler, or <see langword="null"/> when it never saw the connection open.</param>
    /// <param name="holding">Whether the writer was stopped for a hold (<see cref="StopWriterAsync"/>).</param>
    /// <param name="error">What ended the socket, if it failed.</param>
    private async Task EndRunAsync(WebSocket socket, long generation, WebSocketHandler? handler, bool holding, Exception? error)
    {
        // A held session's writer was stopped and awaited already; any other send side is closed now.
        var writer = holding ? null : CloseSendSide();
        var disconnect = EndSocket(socket, error);
        if (writer is not null)
        {
            // Already awaited unless the run failed before its loops; the socket is aborted now, so it ends at once.
            await writer.ConfigureAwait(false);
        }

        if (!holding || handler is null || !TryHold(generation, _handle, handler, disconnect))
        {
            _ = CloseSendSide(); // Its writer was stopped and awaited above; the queue is completed now.
            await _factory.EndConnectionAsync(this, generation, _handle, disconnect, handler).ConfigureAwait(false);
        }
    }

    /// <summary>Aborts the socket if it did not close, disposes it and describes how the connection ended. Never throws.</summary>
    private WebSocketDisconnect EndSocket(WebSocket socket, Exception? error)
    {
        var state = WebSocketState.Aborted;
        WebSocketCloseStatus? status = null;
        try
        {
            state = socket.State;
            status = socket.CloseStatus;
            if (state != WebSocketState.Closed)
            {
                SetReason(DisconnectReason.Aborted);
                AbortQuietly(socket);
            }
        }
#pragma warning disable CA1031 // A socket that cannot even report its state has ended all the same.
        catch (Exception)
#pragma warning restore CA1031
        {
            SetReason(DisconnectReason.Aborted);
        }

        // A close the server started reports the server's code, not the code the peer echoed back.
        var closeRequested = Volatile.Read(ref _closeRequested) == 1;
        var closed = state == WebSocketState.Closed;
        var serverClosed = closeRequested && closed && _reason != DisconnectReason.ClientClosed;
        var closeCode = serverClosed ? _closeCode : (int?)status ?? (closeRequested && closed ? _closeCode : null);
        try
        {
            socket.Dispose();
        }
#pragma warning disable CA1031 // Disposing an ended socket can fail once its request has finished; nothing is left to free.
        catch (Exception)
#pragma warning restore CA1031
        {
        }

        return new WebSocketDisconnect(_reason ?? DisconnectReason.Aborted, closeCode, error);
    }

    private static void AbortQuietly(WebSocket socket)
    {
        try
        {
            socket.Abort();
        }
#pragma warning disable CA1031 // Aborting a socket whose request already finished throws ObjectDisposedException; it is gone either way.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    private void CompleteQueue(Channel<Outbound> queue)
    {
        // Set before completing: a write the completed queue refuses always sees it and is not taken for a slow consumer.
        _queueCompleted = true;
        queue.Writer.TryComplete();
    }

    /// <summary>
    /// Runs one handler callback. The callback is started inside the try block, so that an override which throws before
    /// returning its task (a non-async method) costs its connection like one whose task faults, instead of escaping
    /// <see cref="RunAsync"/> and leaving the lease unreleased.
    /// </summary>
    /// <returns><see langword="false"/> when the handler threw and the connection is now closing with 1011.</returns>
    private async ValueTask<bool> InvokeHandlerAsync(
        HandlerCallback callback, WebSocketHandler handler, WebSocketConnection connection, WebSocketMessage message, CancellationToken cancellationToken)
    {
        try
        {
            await StartHandler(callback, handler, connection, message, cancellationToken).ConfigureAwait(false);
            return true;
        }
#pragma warning disable CA1031 // A handler's failure costs its own connection, never the server.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            _factory.OnHandlerError(connection, ex);
            RequestClose(Generation, WebSocketCloseCodes.InternalError, "Internal server error.", DisconnectReason.HandlerError, discardPending: true);
            return false;
        }
    }

    /// <summary>
    /// Starts one callback; while its synchronous part runs, this thread is marked as this connection's handler, so that
    /// a reply it queues goes out from here (WriteLoopAsync).
    /// </summary>
    private ValueTask StartHandler(HandlerCallback callback, WebSocketHandler handler, WebSocketConnection connection, WebSocketMessage message, CancellationToken cancellationToken)
    {
        var outer = s_handlerRunning;
        s_handlerRunning = this;
        try
        {
            return callback switch
            {
                HandlerCallback.Connecting => handler.OnConnectingAsync(connection, cancellationToken),
                HandlerCallback.Connected => handler.OnConnectedAsync(connection, cancellationToken),
                HandlerCallback.RateLimited => handler.OnRateLimitedAsync(connection, cancellationToken),
                _ => handler.OnMessageAsync(connection, message, cancellationToken),
            };
        }
        finally
        {
            s_handlerRunning = outer;
        }
    }

    private enum HandlerCallback
    {
        Connecting,
        Connected,
        Message,
        RateLimited,
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using WebSocketPool.Internal;

namespace WebSocketPool;

/// <summary>
/// Holding a dropped resumable connection's session, and resuming it on a new socket (docs/resume-protocol.md). A held
/// session is the same lease, generation and connection: it keeps its slot, its place in the node's count, the registry,
/// its groups and items; its send queue stays open, so sends while it is held wait in order for the resumed socket (up to
/// <see cref="WebSocketPoolOptions.SendQueueCapacity"/>, beyond which the slow-consumer policy ends it). It ends through
/// <see cref="PooledWebSocketManagerFactory.EndConnectionAsync"/> like any connection when its window lapses or when it is
/// closed (a kick, an eviction, the shutdown).
/// </summary>
internal sealed partial class IsolatedWebSocketManager
{
    // The held session (under the manager's lock): set while the socket is gone and the session waits for its client.
    private HeldSession? _held;

    // Completed when the session is next held: a resume that finds its socket still open (the server has not noticed
    // the drop yet) aborts that socket and waits for the hold.
    private TaskCompletionSource? _heldWaiter;

    // Set (under the manager's lock) when a resume could not take the session in time and its client was told to start afresh (4004):
    // the session is then never held, since nobody will resume it.
    private bool _resumeForfeited;

    internal bool IsHeld => Volatile.Read(ref _held) is not null;

    /// <summary>
    /// Gets a value indicating whether this is a resumable connection that has not ended: live, held without a socket, or
    /// being taken up by a resume. Sends to its user or groups reach it in each of these.
    /// </summary>
    internal bool IsResumeSession => Volatile.Read(ref _resume) is not null && !IsEnded;

    /// <summary>
    /// Whether the run that is ending may hold its session: a resumable connection, not overflowed, that ended without a
    /// close frame from either side (a drop, a keep-alive timeout), while the pool is not draining.
    /// </summary>
    private bool MayHold(bool connected)
    {
        lock (this)
        {
            return connected && _resume is { Overflowed: false } && _closeRequested == 0 && !_resumeForfeited
                && _reason is DisconnectReason.Aborted or DisconnectReason.KeepAliveTimeout
                && !_factory.IsDraining;
        }
    }

    /// <summary>
    /// Holds the session for <see cref="WebSocketResumeOptions.Window"/>; <see langword="false"/> when it may not be held
    /// after all (closed meanwhile), and the caller ends it.
    /// </summary>
    private bool TryHold(long generation, WebSocketConnection connection, WebSocketHandler handler, WebSocketDisconnect disconnect)
    {
        var held = new HeldSession(this, generation, connection, handler, disconnect);
        lock (this)
        {
            if (_generation != generation || _closeRequested == 1 || _resume is null or { Overflowed: true } || _resumeForfeited || _factory.IsDraining)
            {
                return false;
            }

            _socket = null;
            _httpContext = null;
            _held = held;
            _heldWaiter?.TrySetResult();
            _heldWaiter = null;
        }

        _factory.OnSessionHeld(this, disconnect.Reason);

        // Taken for a resume before the timer exists: the lapse finds the session gone and does nothing.
        held.Timer = _factory.TimeProvider.CreateTimer(
            static state => _ = ((HeldSession)state!).Owner.EndHeldAsync((HeldSession)state, "expired"), held, _factory.Options.Resume.Window, Timeout.InfiniteTimeSpan);
        return true;
    }

    /// <summary>
    /// Takes the held session for a resume when <paramref name="secret"/> is the one its current token carries: it stops
    /// waiting and belongs to the caller, which runs it on a new socket or ends it.
    /// </summary>
    internal HeldSession? TryTakeHeld(long generation, string secret)
    {
        lock (this)
        {
            if (_generation != generation || _held is not { } held || _resume is not { } resume || !SecretMatches(resume, secret))
            {
                return null;
            }

            _held = null;
            held.Timer?.Dispose();
            return held;
        }
    }

    /// <summary>
    /// Takes the session for a resume, as <see cref="TryTakeHeld"/>; when its old socket is still open here (a half-open
    /// connection the server has not noticed yet: the client knows it dropped before the server does), that socket is
    /// aborted as the drop it is, and the session taken once it is held, within <paramref name="timeout"/>.
    /// </summary>
    internal async Task<HeldSession?> TakeOverAsync(long generation, string secret, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (TryTakeHeld(generation, secret) is { } held)
        {
            return held;
        }

        Task waiting;
        WebSocket? socket;
        lock (this)
        {
            if (_generation != generation || _closeRequested == 1 || _resume is not { Overflowed: false } resume || !SecretMatches(resume, secret))
            {
                return null;
            }

            if (_held is not null)
            {
                // Held between the first look and this lock: take it below, without waiting for a hold already done.
                waiting = Task.CompletedTask;
                socket = null;
            }
            else
            {
                _heldWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                waiting = _heldWaiter.Task;
                _reason ??= DisconnectReason.Aborted;
                socket = _socket;
            }
        }

        if (socket is not null)
        {
            AbortQuietly(socket);
        }

        try
        {
            await waiting.WaitAsync(timeout, _factory.TimeProvider, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Held just now, or never: in the second case the client gets 4004 and starts afresh, so the session must
            // not be held for it when its run ends at last; it ends then, and its slot with it.
            if (TryTakeHeld(generation, secret) is { } late)
            {
                return late;
            }

            lock (this)
            {
                if (_generation == generation)
                {
                    _resumeForfeited = true;
                }
            }

            return null;
        }

        return TryTakeHeld(generation, secret);
    }

    /// <summary>Under the manager's lock, when the lease ends: a take-over waiting for a hold that will not come stops waiting now.</summary>
    private void ReleaseHeldWaiterLocked()
    {
        _heldWaiter?.TrySetResult();
        _heldWaiter = null;
        _resumeForfeited = false;
    }

    private static bool SecretMatches(ResumeSession resume, string secret) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(resume.Secret), Encoding.ASCII.GetBytes(secret));

    /// <summary>Ends a held session that was not resumed, through the one release path. Never throws.</summary>
    private async Task EndHeldAsync(HeldSession held, string outcome)
    {
        lock (this)
        {
            if (!ReferenceEquals(_held, held))
            {
                return;
            }

            _held = null;
        }

        held.Timer?.Dispose();
        await EndTakenAsync(held, outcome).ConfigureAwait(false);
    }

    /// <summary>Ends a session taken from its hold (it lapsed, was closed, or cannot be resumed). Never throws.</summary>
    internal async Task EndTakenAsync(HeldSession held, string outcome)
    {
        if (Volatile.Read(ref _queue) is { } queue)
        {
            CompleteQueue(queue);
        }

        _factory.OnSessionEnded(this, outcome);
        await _factory.EndConnectionAsync(this, held.Generation, held.Connection, held.Disconnect, held.Handler).ConfigureAwait(false);
    }

    private void OnResumeOverflowed()
    {
        HeldSession? held;
        lock (this)
        {
            held = _held;
        }

        if (held is not null)
        {
            _ = EndHeldAsync(held, "overflowed");
        }
    }

    /// <summary>A close requested while the session is held (a kick, an eviction, the shutdown) ends it now.</summary>
    private void EndHeldOnClose(HeldSession? held)
    {
        if (held is not null)
        {
            _ = EndHeldAsync(held, "closed");
        }
    }

    /// <summary>
    /// Runs a resumed session on its new socket: the session frame with the new token, the replay, then live traffic, with
    /// <see cref="WebSocketHandler.OnResumedAsync"/> and the receive loop as in <see cref="RunAsync"/>. Never throws; it ends
    /// as a first run does, holding the session again if it drops again.
    /// </summary>
    internal async Task ResumeRunAsync(
        WebSocket socket, HeldSession held, ResumeSession.Buffered[] replay, HttpContext? httpContext, CancellationToken requestAborted)
    {
        var generation = held.Generation;
        var connection = held.Connection;
        var handler = held.Handler;
        Exception? error = null;
        var holding = false;
        using var writerStop = new CancellationTokenSource();
        try
        {
            lock (this)
            {
                _socket = socket;
                _httpContext = httpContext;
                _reason = null;
                _handle = connection;

                // Deadlines armed for the old socket (a send it never finished) are not the new socket's.
                _deadlineGeneration = 0;
                _assemblyDue = 0;

                // The held queue gets a writer for the new socket, which sends the session frame and the replay first.
                _writerStop = writerStop;
                _writer = WriteLoopAsync(socket, _queue!, replay, previous: null, writerStop.Token);
            }

            _factory.OnSessionResumed(this, replay.Length);
            try
            {
                using (requestAborted.UnsafeRegister(static s => ((IsolatedWebSocketManager)s!).OnRequestAborted(), this))
                {
                    if (await InvokeResumedAsync(handler, connection, requestAborted).ConfigureAwait(false))
                    {
                        await ReceiveLoopAsync(socket, handler, requestAborted).ConfigureAwait(false);
                    }
                    else
                    {
                        await DrainUntilCloseAsync(socket, requestAborted).ConfigureAwait(false);
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
                holding = await StopWriterAsync(writerStop, connected: true).ConfigureAwait(false);
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
            await EndRunAsync(socket, generation, handler, holding, error).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Ends the write loop when the socket has ended: a session that may be held keeps its queue open (its pending
    /// messages wait for the resumed socket) and only its writer stops; any other closes its send side.
    /// </summary>
    /// <param name="writerStop">The run's writer stop, or <see langword="null"/> when the connection is not resumable.</param>
    /// <param name="connected">Whether the handler saw the connection open.</param>
    /// <param name="holding"><see langword="true"/> when the session is to be held.</param>
    /// <returns>The writer to wait for, or <see langword="null"/> when the lease never made one.</returns>
    private Task? StopWriter(CancellationTokenSource? writerStop, bool connected, out bool holding)
    {
        holding = writerStop is not null && MayHold(connected);
        if (!holding)
        {
            return CloseSendSide();
        }

        writerStop!.Cancel();
        lock (this)
        {
            return _writer;
        }
    }

    private async ValueTask<bool> InvokeResumedAsync(WebSocketHandler handler, WebSocketConnection connection, CancellationToken cancellationToken)
    {
        try
        {
            await handler.OnResumedAsync(connection, cancellationToken).ConfigureAwait(false);
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

    /// <summary>A session held for its client: what ending it needs, and the timer of its window.</summary>
    internal sealed class HeldSession(
        IsolatedWebSocketManager owner, long generation, WebSocketConnection connection, WebSocketHandler handler, WebSocketDisconnect disconnect)
    {
        public IsolatedWebSocketManager Owner { get; } = owner;

        public long Generation { get; } = generation;

        public WebSocketConnection Connection { get; } = connection;

        public WebSocketHandler Handler { get; } = handler;

        public WebSocketDisconnect Disconnect { get; } = disconnect;

        public ITimer? Timer { get; set; }
    }
}

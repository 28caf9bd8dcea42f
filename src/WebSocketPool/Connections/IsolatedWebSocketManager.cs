// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Buffers;
using System.Net.WebSockets;
using System.Threading.Channels;
using Microsoft.Extensions.ObjectPool;
using WebSocketPool.Internal;

namespace WebSocketPool;

/// <summary>
/// One accepted socket for the lifetime of one lease: connection id, user key, connect time, last activity, an items
/// bag, a receive loop and a bounded outbound queue drained by a single writer. Instances are pooled by
/// <see cref="PooledWebSocketManagerFactory"/>; a reset wipes every trace of the previous connection and user.
/// The app reaches a manager only through a <see cref="WebSocketConnection"/> handle bound to one lease.
/// </summary>
public sealed partial class IsolatedWebSocketManager : IResettable
{
    private static readonly TimeSpan s_minimumRearm = TimeSpan.FromMilliseconds(1);
    private static readonly TimerCallback s_onDeadline = static state => ((IsolatedWebSocketManager)state!).OnDeadline();

    private readonly PooledWebSocketManagerFactory _factory;
    private static readonly Action<Outbound> s_onDropped = static _ => s_droppedOldest = true;

    // Set by the DropOldest callback during this thread's TryWrite, so the sender learns that its write dropped one.
    [ThreadStatic]
    private static bool s_droppedOldest;

    private readonly object _sync = new();

    // Incremented when a lease starts and again when it ends, so a handle's generation matches only its own lease.
    private long _generation;

    // The lease's place in the per-user count (0 = none) and in the node's count of sockets (0 = none). The first goes
    // at a kick or an eviction; the second only when the socket has ended, so a closing socket still counts.
    private long _slotGeneration;
    private long _nodeSlotGeneration;
    private long _number;
    private string? _connectionId;
    private long _connectionIdNumber;
    private string? _userKey;
    private WebSocket? _socket;
    private Channel<Outbound>? _queue;
    private volatile bool _queueCompleted;
    private volatile bool _ended;
    private Dictionary<object, object?>? _items;
    private List<string>? _groups;
    private DateTimeOffset _connectedAt;
    private long _connectedTimestamp;
    private long _lastReceivedTimestamp;
    private DateTimeOffset? _lastReceivedAt;
    private int _closeRequested;
    private int _closeCode;
    private string? _closeDescription;
    private volatile bool _discardPending;
    private DisconnectReason? _reason;
    private ITimer? _deadline;
    private long _deadlineGeneration;
    private long _deadlineDue;

    internal IsolatedWebSocketManager(PooledWebSocketManagerFactory factory)
    {
        _factory = factory;
    }

    /// <summary>Gets the id of the current connection, or <see langword="null"/> while the manager is pooled.</summary>
    public string? ConnectionId => _connectionId;

    /// <summary>Gets the user key of the current (or, while warm, the last) lease; <see langword="null"/> once reset into the shared pool.</summary>
    public string? UserKey => _userKey;

    /// <summary>Gets the generation of the current lease.</summary>
    public long Generation => Volatile.Read(ref _generation);

    internal UserEntry? Entry { get; set; }

    internal long Number => _number;

    internal long WarmSince { get; set; }

    internal bool HoldsSlot => Volatile.Read(ref _slotGeneration) is var slot && slot != 0 && slot == Generation;

    internal bool HoldsNodeSlot => Volatile.Read(ref _nodeSlotGeneration) is var slot && slot != 0 && slot == Generation;

    internal bool IsOpenForSend => Volatile.Read(ref _closeRequested) == 0 && _queue is not null && !_queueCompleted;

    /// <summary>Gets a value indicating whether the lease has an accepted socket that has not ended yet.</summary>
    internal bool HasSocket => _socket is not null && !_ended;

    /// <summary>Gets a value indicating whether the lease's socket has ended (its slots are gone; the lease is finishing).</summary>
    internal bool IsEnded => _ended;

    /// <summary>
    /// Under the user's lock: the victim whose per-user slot this admitted lease will take over once its socket is
    /// accepted (EvictOldest). The pledge is withdrawn if the handshake fails, and the victim lives on.
    /// </summary>
    internal IsolatedWebSocketManager? PledgeVictim { get; set; }

    internal long PledgeVictimGeneration { get; set; }

    /// <summary>Under the user's lock: the admitted lease that pledged this lease's slot, if any.</summary>
    internal IsolatedWebSocketManager? PledgedTo { get; set; }

    internal long PledgedToGeneration { get; set; }

    /// <summary>The connection id of a victim an admission gate named, evicted once this lease's socket is accepted.</summary>
    internal string? GateVictim { get; set; }

    internal WebSocketState? SocketState => _socket?.State;

    internal DateTimeOffset ConnectedAt => _connectedAt;

    internal DateTimeOffset? LastReceivedAt => _lastReceivedAt;

    /// <summary>Gets the timestamp that orders eviction: the last inbound message, else the connect time.</summary>
    internal long SilentSince => _lastReceivedTimestamp != 0 ? _lastReceivedTimestamp : _connectedTimestamp;

    internal long ConnectedTimestamp => _connectedTimestamp;

    /// <summary>Gets a value indicating whether the manager holds any app state (for the invariant checks of tests).</summary>
    internal bool HasItems => Volatile.Read(ref _items) is { Count: > 0 };

    /// <summary>
    /// The items bag of lease <paramref name="generation"/>, or <see langword="null"/> when that lease has ended. Each
    /// lease gets its own dictionary (never a cleared one from before), so a stale handle cannot reach the next lease's.
    /// </summary>
    internal IDictionary<object, object?>? GetItems(long generation)
    {
        lock (_sync)
        {
            return _generation == generation ? _items ??= [] : null;
        }
    }

    internal List<string> Groups => _groups ??= [];

    internal bool HasGroups => _groups is { Count: > 0 };

    /// <summary>Set (under the <see cref="Groups"/> lock) once the lease is ending: no group may be joined after that.</summary>
    internal bool GroupsClosed { get; set; }

    internal bool IsCurrent(long generation) => Volatile.Read(ref _generation) == generation;

    /// <summary>
    /// Starts a lease for <paramref name="userKey"/>: called by the factory under the user's lock. The lease always holds
    /// a place in the node's count; it holds a per-user slot unless it is admitted on a pledge.
    /// </summary>
    internal long BeginLease(string userKey, UserEntry entry, long number, bool holdsSlot)
    {
        _userKey = userKey;
        Entry = entry;
        _number = number;
        _connectionId = null;

        // No lock on Groups here (one Monitor.Enter less per lease). The list exists before any handle of this lease
        // does, so Add and RemoveAll always lock the same object. Reopening without the lock is safe: a join under the
        // lock is refused by its generation unless it comes from this lease, and this lease's generation is published
        // only by the full fence of the Interlocked.Increment below, after this write.
        _groups ??= [];
        GroupsClosed = false;

        _ended = false;
        _queueCompleted = false;
        var generation = Interlocked.Increment(ref _generation);
        Volatile.Write(ref _nodeSlotGeneration, generation);
        Volatile.Write(ref _slotGeneration, holdsSlot ? generation : 0);
        return generation;
    }

    /// <summary>Under the user's lock: hands lease <paramref name="generation"/> a per-user slot (a pledge fulfilled).</summary>
    internal void GiveSlot(long generation)
    {
        if (IsCurrent(generation))
        {
            Volatile.Write(ref _slotGeneration, generation);
        }
    }

    /// <summary>Gives up the node-count place of lease <paramref name="generation"/>; true only for the one caller that took it.</summary>
    internal bool TryTakeNodeSlot(long generation) =>
        generation != 0 && Interlocked.CompareExchange(ref _nodeSlotGeneration, 0, generation) == generation;

    /// <summary>Marks the socket of the current lease as ended: no send, kick or eviction picks it any more.</summary>
    internal void MarkEnded() => _ended = true;

    /// <summary>
    /// Gives up the counted slot of lease <paramref name="generation"/>; true only for the one caller that actually took
    /// it, so a double release is harmless and a late release can never free the slot of a later lease.
    /// </summary>
    internal bool TryTakeSlot(long generation) => generation != 0 && Interlocked.CompareExchange(ref _slotGeneration, 0, generation) == generation;

    /// <summary>
    /// The id of the current lease, formatted on first use (an admission that is refused never pays for the string).
    /// Cached under the lock together with the number it was made from, so a late caller from an ended lease can never
    /// leave its id behind for the next one.
    /// </summary>
    internal string GetConnectionId()
    {
        lock (_sync)
        {
            if (_connectionId is null || _connectionIdNumber != _number)
            {
                _connectionId = _factory.FormatConnectionId(_number);
                _connectionIdNumber = _number;
            }

            return _connectionId;
        }
    }

    internal void MarkConnected(long timestamp, DateTimeOffset now)
    {
        _connectedTimestamp = timestamp;
        _connectedAt = now;
        _lastReceivedTimestamp = 0;
        _lastReceivedAt = null;
    }

    /// <summary>
    /// Runs the accepted socket until it ends, then ends the lease. Never throws. Whatever happens inside (a handler, a
    /// logging provider, the socket), the <c>finally</c> below hands the lease to
    /// <see cref="PooledWebSocketManagerFactory.EndConnectionAsync"/>, which releases its slots, takes it out of the registry
    /// and the groups, calls <see cref="WebSocketHandler.OnDisconnectedAsync"/> and returns the manager.
    /// </summary>
    internal async Task RunAsync(WebSocket socket, WebSocketHandler handler, CancellationToken requestAborted)
    {
        var generation = Generation;
        var connection = new WebSocketConnection(this, generation, GetConnectionId(), _userKey!);
        var connected = false;
        Exception? error = null;
        Channel<Outbound>? queue = null;
        try
        {
            var options = _factory.Options;
            queue = Channel.CreateBounded<Outbound>(
                new BoundedChannelOptions(options.SendQueueCapacity)
                {
                    SingleReader = true,
                    SingleWriter = false,
                    FullMode = options.SlowConsumerPolicy == SlowConsumerPolicy.DropOldest ? BoundedChannelFullMode.DropOldest : BoundedChannelFullMode.Wait,
                },
                options.SlowConsumerPolicy == SlowConsumerPolicy.DropOldest ? s_onDropped : null);
            bool closedBeforeOpen;
            lock (_sync)
            {
                _socket = socket;
                _queue = queue;

                // Kicked (or its user disconnected) while the handshake ran: close at once with that code.
                closedBeforeOpen = _closeRequested == 1;
            }

            if (closedBeforeOpen)
            {
                CompleteQueue(queue);
            }

            _factory.OnConnectionOpened(this, generation);
            if (GateVictim is { } gateVictim)
            {
                GateVictim = null;
                await _factory.EvictThroughGateAsync(connection, gateVictim, requestAborted).ConfigureAwait(false);
            }

            var writer = WriteLoopAsync(socket, queue.Reader);
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
                        if (await InvokeHandlerAsync(HandlerCallback.Connected, handler, connection, default, requestAborted).ConfigureAwait(false))
                        {
                            await ReceiveLoopAsync(socket, handler, connection, requestAborted).ConfigureAwait(false);
                        }
                        else
                        {
                            // OnConnectedAsync threw and the 1011 close is on its way: wait for the peer's answer (bounded by
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
                SetReason(Classify(socket, ex, _factory.Options.KeepAliveInterval > TimeSpan.Zero));
            }
            finally
            {
                CompleteQueue(queue);

                // The write loop catches everything itself; it ends once the queue is drained or the socket is gone.
                await writer.ConfigureAwait(false);
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
            if (queue is not null)
            {
                CompleteQueue(queue);
            }

            var disconnect = EndSocket(socket, error);
            await _factory.EndConnectionAsync(this, generation, connection, disconnect, connected ? handler : null).ConfigureAwait(false);
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

    private async Task ReceiveLoopAsync(WebSocket socket, WebSocketHandler handler, WebSocketConnection connection, CancellationToken cancellationToken)
    {
        var max = _factory.Options.MaxMessageBytes;

        // At most one byte past the limit is ever read: that byte is how a message over the limit is recognised.
        var cap = max + 1;
        while (true)
        {
            // Idle connections hold no receive buffer: wait for data with a zero-byte read, then rent one.
            var first = await socket.ReceiveAsync(Memory<byte>.Empty, cancellationToken).ConfigureAwait(false);
            if (first.MessageType == WebSocketMessageType.Close)
            {
                OnCloseReceived(socket);
                return;
            }

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

                    var result = await socket.ReceiveAsync(buffer.AsMemory(length, Math.Min(buffer.Length, cap) - length), cancellationToken).ConfigureAwait(false);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        OnCloseReceived(socket);
                        return;
                    }

                    length += result.Count;
                    end = result.EndOfMessage;
                }

                if (tooBig || length > max)
                {
                    _factory.Metrics.MessageTooBig();
                    RequestClose(Generation, WebSocketCloseCodes.MessageTooBig, "Message too big.", DisconnectReason.MessageTooBig, discardPending: true);
                    await DrainUntilCloseAsync(socket, cancellationToken).ConfigureAwait(false);
                    return;
                }

                if (Volatile.Read(ref _closeRequested) == 1)
                {
                    // Closing: the peer may still send until it sees our close frame; such messages are not delivered.
                    continue;
                }

                _lastReceivedTimestamp = _factory.TimeProvider.GetTimestamp();
                _lastReceivedAt = _factory.TimeProvider.GetUtcNow();
                _factory.Metrics.MessageReceived(length);

                if (!_factory.TryAcquireMessageToken(this))
                {
                    if (!await InvokeHandlerAsync(HandlerCallback.RateLimited, handler, connection, default, cancellationToken).ConfigureAwait(false))
                    {
                        await DrainUntilCloseAsync(socket, cancellationToken).ConfigureAwait(false);
                        return;
                    }

                    MarkRateLimitClose();
                    continue;
                }

                var payload = buffer is null ? ReadOnlyMemory<byte>.Empty : buffer.AsMemory(0, length);
                if (!await InvokeHandlerAsync(HandlerCallback.Message, handler, connection, new WebSocketMessage(type, payload), cancellationToken).ConfigureAwait(false))
                {
                    await DrainUntilCloseAsync(socket, cancellationToken).ConfigureAwait(false);
                    return;
                }
            }
            finally
            {
                if (buffer is not null)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
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
            if (callback == HandlerCallback.Connected)
            {
                await handler.OnConnectedAsync(connection, cancellationToken).ConfigureAwait(false);
            }
            else if (callback == HandlerCallback.RateLimited)
            {
                await handler.OnRateLimitedAsync(connection, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await handler.OnMessageAsync(connection, message, cancellationToken).ConfigureAwait(false);
            }

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
    /// The single writer of a connection. A send that completes at once (the usual case) touches no timer; one that has
    /// to wait arms the send deadline once (one timer-queue operation) and simply leaves it to lapse afterwards. Never
    /// throws: any failure, including one from <c>CloseOutputAsync</c>, aborts the socket and ends the loop.
    /// </summary>
    private async Task WriteLoopAsync(WebSocket socket, ChannelReader<Outbound> reader)
    {
        try
        {
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                while (reader.TryRead(out var message))
                {
                    if (_discardPending)
                    {
                        continue;
                    }

                    var send = socket.SendAsync(message.Payload, message.Type, endOfMessage: true, CancellationToken.None);
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

                    _factory.Metrics.MessageSent(message.Payload.Length);
                }
            }

            if (Volatile.Read(ref _closeRequested) == 1 && socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                ArmDeadline(_factory.Options.SendTimeout);
                await socket.CloseOutputAsync((WebSocketCloseStatus)_closeCode, _closeDescription, CancellationToken.None).ConfigureAwait(false);

                // The closing handshake gets the same budget as one send; a peer that never answers is aborted.
                ArmDeadline(_factory.Options.SendTimeout);
            }
        }
#pragma warning disable CA1031 // A failed send or close costs this connection only: abort it, never let it escape.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            SetReason(DisconnectReason.Aborted);
            AbortQuietly(socket);
            if (ex is not (WebSocketException or OperationCanceledException or IOException or ObjectDisposedException
                    or Microsoft.AspNetCore.Connections.ConnectionAbortedException))
            {
                _factory.OnUnexpectedFailure("write loop", ex);
            }
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

        if (queue is null || _queueCompleted || Volatile.Read(ref _closeRequested) == 1)
        {
            return SendResult.Closed;
        }

        s_droppedOldest = false;
        if (queue.Writer.TryWrite(new Outbound(payload, type)))
        {
            // The channel calls its drop callback on the writing thread, inside TryWrite.
            var dropped = s_droppedOldest;
            s_droppedOldest = false;
            if (dropped)
            {
                _factory.OnMessageDropped();
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

    /// <summary>Starts the closing handshake once per lease; later calls are ignored.</summary>
    internal bool RequestClose(long generation, int closeCode, string? description, DisconnectReason reason, bool discardPending)
    {
        Channel<Outbound>? queue;
        lock (_sync)
        {
            if (_generation != generation || _closeRequested == 1)
            {
                return false;
            }

            _closeRequested = 1;
            _closeCode = closeCode;
            _closeDescription = description;
            _reason ??= reason;
            if (discardPending)
            {
                _discardPending = true;
            }

            queue = _queue;
        }

        if (queue is null)
        {
            return true;
        }

        CompleteQueue(queue);
        if (discardPending)
        {
            // A stuck send holds the writer; the close frame waits behind it for at most one send timeout.
            ArmDeadline(_factory.Options.SendTimeout);
        }

        return true;
    }

    internal void Abort(long generation, DisconnectReason reason)
    {
        WebSocket? socket;
        lock (_sync)
        {
            if (_generation != generation)
            {
                return;
            }

            _reason ??= reason;
            socket = _socket;
        }

        if (socket is not null)
        {
            AbortQuietly(socket);
        }
    }

    internal void AbortCurrent(DisconnectReason reason) => Abort(Generation, reason);

    private void OnRequestAborted()
    {
        // A socket that aborted itself (.NET's keep-alive timeout ends the request too) is classified by its receive loop.
        if (Volatile.Read(ref _socket) is { State: WebSocketState.Aborted })
        {
            return;
        }

        AbortCurrent(DisconnectReason.Aborted);
    }

    /// <summary>A close with 1008 started by the rate-limit callback ends the connection as a policy violation.</summary>
    private void MarkRateLimitClose()
    {
        lock (_sync)
        {
            if (_closeRequested == 1 && _closeCode == WebSocketCloseCodes.PolicyViolation && _reason == DisconnectReason.ServerClosed)
            {
                _reason = DisconnectReason.PolicyViolation;
            }
        }
    }

    private void SetReason(DisconnectReason reason)
    {
        lock (_sync)
        {
            _reason ??= reason;
        }
    }

    private static DisconnectReason Classify(WebSocket socket, Exception exception, bool keepAlive)
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

    /// <summary>
    /// Arms the send/close deadline of the current lease: one <see cref="ITimer.Change"/>. It is never disarmed through
    /// the timer (that would be a second timer-queue operation per send); a lapsed arming simply finds nothing to do.
    /// </summary>
    private void ArmDeadline(TimeSpan timeout)
    {
        var timer = Volatile.Read(ref _deadline) ?? CreateDeadlineTimer();
        var time = _factory.TimeProvider;
        Volatile.Write(ref _deadlineDue, time.GetTimestamp() + (long)(timeout.TotalSeconds * time.TimestampFrequency));
        Volatile.Write(ref _deadlineGeneration, Generation);
        timer.Change(timeout, Timeout.InfiniteTimeSpan);
    }

    /// <summary>At most one timer per manager, whichever threads arm it first: a losing timer is disposed at once.</summary>
    private ITimer CreateDeadlineTimer()
    {
        var created = _factory.TimeProvider.CreateTimer(s_onDeadline, this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        if (Interlocked.CompareExchange(ref _deadline, created, null) is { } existing)
        {
            created.Dispose();
            return existing;
        }

        return created;
    }

    private void OnDeadline()
    {
        try
        {
            var generation = Volatile.Read(ref _deadlineGeneration);
            if (generation == 0 || generation != Generation)
            {
                // Disarmed (the send completed) or from an ended lease.
                return;
            }

            var time = _factory.TimeProvider;
            var remaining = time.GetElapsedTime(time.GetTimestamp(), Volatile.Read(ref _deadlineDue));
            if (remaining > TimeSpan.Zero)
            {
                // Early: an earlier arming that a later one moved, or a timer a little ahead of the timestamp clock.
                Volatile.Read(ref _deadline)?.Change(remaining < s_minimumRearm ? s_minimumRearm : remaining, Timeout.InfiniteTimeSpan);
                return;
            }

            _factory.OnSendTimeout(this);
            Abort(generation, DisconnectReason.Aborted);
        }
#pragma warning disable CA1031 // A timer callback must never throw: that would end the process.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            _factory.OnUnexpectedFailure("send deadline", ex);
        }
    }

    /// <summary>Ends the lease: wipes every trace of the connection, keeps the user key only while warm.</summary>
    internal void EndLease()
    {
        lock (_sync)
        {
            Interlocked.Increment(ref _generation);
            Volatile.Write(ref _slotGeneration, 0);
            Volatile.Write(ref _nodeSlotGeneration, 0);
            PledgeVictim = null;
            PledgeVictimGeneration = 0;
            PledgedTo = null;
            PledgedToGeneration = 0;
            GateVictim = null;
            _socket = null;
            _queue = null;
            _connectionId = null;
            _number = 0;
            _items = null;
            _groups?.Clear();
            _connectedAt = default;
            _connectedTimestamp = 0;
            _lastReceivedTimestamp = 0;
            _lastReceivedAt = null;
            _closeRequested = 0;
            _closeCode = 0;
            _closeDescription = null;
            _discardPending = false;
            _reason = null;
            _deadlineGeneration = 0;
        }

    }

    /// <summary>Wipes what a warm manager still remembers (its user) before it joins the shared pool.</summary>
    /// <returns><see langword="true"/>: a reset manager can always be reused.</returns>
    public bool TryReset()
    {
        EndLeaseIfNeeded();
        _userKey = null;
        Entry = null;
        WarmSince = 0;
        return true;
    }

    private void EndLeaseIfNeeded()
    {
        if (_queue is not null || _socket is not null || _connectionId is not null || Volatile.Read(ref _slotGeneration) != 0
            || Volatile.Read(ref _nodeSlotGeneration) != 0)
        {
            EndLease();
        }
    }

    internal void DisposeTimer() => Interlocked.Exchange(ref _deadline, null)?.Dispose();

    private enum HandlerCallback
    {
        Connected,
        Message,
        RateLimited,
    }

    internal readonly record struct Outbound(ReadOnlyMemory<byte> Payload, WebSocketMessageType Type);
}

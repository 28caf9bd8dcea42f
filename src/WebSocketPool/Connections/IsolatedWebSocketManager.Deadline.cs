// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool;

/// <summary>
/// The connection's deadlines, all on one timer per manager: the send/close deadline (a send that has to wait, the
/// closing handshake), the message-assembly deadline (a message whose frames stop arriving) and the authentication
/// expiry. The timer is created on first use and armed for the earliest pending deadline, so a connection that never
/// waits on a send, never waits inside a message and has no expiry never has one. Never throws.
/// </summary>
internal sealed partial class IsolatedWebSocketManager
{
    private static readonly TimeSpan s_minimumRearm = TimeSpan.FromMilliseconds(1);

    private static readonly TimerCallback s_onDeadline = static state => ((IsolatedWebSocketManager)state!).OnDeadline();

    /// <summary>Gets a value indicating whether this manager has created its deadline timer (for the cost checks of tests).</summary>
    internal bool HasDeadlineTimer => Volatile.Read(ref _deadline) is not null;

    /// <summary>Gets a value indicating whether the clock of an incomplete incoming message is running (for tests).</summary>
    internal bool IsAssemblingMessage => Volatile.Read(ref _assemblyDue) != 0;

    /// <summary>
    /// Arms the send/close deadline of the current lease. It is never disarmed through the timer (that would be a second
    /// timer-queue operation per send): a completed send clears <c>_deadlineGeneration</c>, and a lapsed arming simply
    /// finds nothing to do.
    /// </summary>
    private void ArmDeadline(TimeSpan timeout)
    {
        var due = DueIn(timeout);
        Volatile.Write(ref _deadlineDue, due);
        Volatile.Write(ref _deadlineGeneration, Generation);
        ArmTimer(due);
    }

    /// <summary>
    /// Starts the clock of the message being received, the first time a read of it has to wait: a message that arrives
    /// whole costs nothing. Once <see cref="WebSocketPoolOptions.MessageAssemblyTimeout"/> has passed without the message
    /// completing, the connection is closed with 1008 (see <see cref="OnMessageAssemblyTimedOut"/>).
    /// </summary>
    private void StartAssemblyClock()
    {
        var timeout = _factory.Options.MessageAssemblyTimeout;
        if (timeout <= TimeSpan.Zero || Volatile.Read(ref _assemblyDue) != 0)
        {
            return;
        }

        var due = DueIn(timeout);
        Volatile.Write(ref _assemblyDue, due);
        ArmTimer(due);
    }

    /// <summary>The message is complete (or abandoned): its clock stops. The timer, if armed for it, finds nothing.</summary>
    private void StopAssemblyClock()
    {
        if (Volatile.Read(ref _assemblyDue) != 0)
        {
            Volatile.Write(ref _assemblyDue, 0);
        }
    }

    /// <summary>
    /// Closes lease <paramref name="generation"/> with 4005 when <paramref name="expiresAt"/> passes (the expiry of the
    /// authentication the connection was opened with). Only connections that have an expiry arm the timer for it.
    /// </summary>
    internal void ArmAuthenticationExpiry(long generation, DateTimeOffset expiresAt)
    {
        var time = _factory.TimeProvider;
        var remaining = expiresAt - time.GetUtcNow();
        var due = DueIn(remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero);
        lock (this)
        {
            if (_generation != generation)
            {
                return;
            }

            _authenticationDue = due;
        }

        ArmTimer(due);
    }

    private long DueIn(TimeSpan timeout)
    {
        var time = _factory.TimeProvider;
        return time.GetTimestamp() + (long)(timeout.TotalSeconds * time.TimestampFrequency);
    }

    /// <summary>
    /// Arms the timer for <paramref name="due"/> unless it is already armed for that time or earlier: one
    /// <see cref="ITimer.Change"/> at most. Under the lock, so that a later deadline can never move an earlier one out.
    /// </summary>
    private void ArmTimer(long due)
    {
        lock (this)
        {
            var armed = _armedDue;
            if (armed != 0 && armed <= due)
            {
                return;
            }

            _armedDue = due;
            var timer = _deadline ?? CreateDeadlineTimer();
            var time = _factory.TimeProvider;
            var delay = time.GetElapsedTime(time.GetTimestamp(), due);
            timer.Change(delay <= TimeSpan.Zero ? TimeSpan.Zero : delay < s_minimumRearm ? s_minimumRearm : delay, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>At most one timer per manager; created under the manager's lock by <see cref="ArmTimer"/>.</summary>
    private ITimer CreateDeadlineTimer()
    {
        var created = _factory.TimeProvider.CreateTimer(s_onDeadline, this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        Volatile.Write(ref _deadline, created);
        return created;
    }

    /// <summary>
    /// The timer fired: acts on every deadline of the current lease that has passed, then arms the timer again for the
    /// earliest one still pending. A firing for an ended lease, or for a deadline that was moved or cleared, finds nothing.
    /// </summary>
    private void OnDeadline()
    {
        try
        {
            lock (this)
            {
                _armedDue = 0;
            }

            var generation = Generation;
            var now = _factory.TimeProvider.GetTimestamp();
            var next = long.MaxValue;

            var sendGeneration = Volatile.Read(ref _deadlineGeneration);
            if (sendGeneration != 0 && sendGeneration == generation)
            {
                var due = Volatile.Read(ref _deadlineDue);
                if (due <= now)
                {
                    _factory.OnSendTimeout(this);
                    Abort(generation, DisconnectReason.Aborted);
                    return;
                }

                next = Math.Min(next, due);
            }

            var assemblyDue = Volatile.Read(ref _assemblyDue);
            if (assemblyDue != 0)
            {
                if (assemblyDue <= now)
                {
                    Volatile.Write(ref _assemblyDue, 0);
                    OnMessageAssemblyTimedOut(generation);
                }
                else
                {
                    next = Math.Min(next, assemblyDue);
                }
            }

            var authenticationDue = Volatile.Read(ref _authenticationDue);
            if (authenticationDue != 0)
            {
                if (authenticationDue <= now)
                {
                    Volatile.Write(ref _authenticationDue, 0);
                    OnAuthenticationExpired(generation);
                }
                else
                {
                    next = Math.Min(next, authenticationDue);
                }
            }

            if (next != long.MaxValue)
            {
                ArmTimer(next);
            }
        }
#pragma warning disable CA1031 // A timer callback must never throw: that would end the process.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            _factory.OnUnexpectedFailure("connection deadline", ex);
        }
    }

    /// <summary>
    /// A message stayed incomplete past <see cref="WebSocketPoolOptions.MessageAssemblyTimeout"/>: its buffer (up to
    /// <see cref="WebSocketPoolOptions.MaxMessageBytes"/>) must not stay pinned, so the connection closes with 1008. The
    /// receive loop returns the buffer when the peer's close arrives, or when the close deadline aborts the socket.
    /// </summary>
    private void OnMessageAssemblyTimedOut(long generation)
    {
        if (RequestClose(generation, WebSocketCloseCodes.PolicyViolation, MessageAssemblyTimeoutReason, DisconnectReason.MessageAssemblyTimeout, discardPending: true))
        {
            _factory.OnMessageAssemblyTimeout(this);
        }
    }

    /// <summary>The authentication the connection was opened with has expired: close with 4005, the client signs in again.</summary>
    private void OnAuthenticationExpired(long generation)
    {
        if (RequestClose(generation, WebSocketCloseCodes.AuthenticationExpired, AuthenticationExpiredReason, DisconnectReason.AuthenticationExpired, discardPending: true))
        {
            _factory.OnAuthenticationExpired(this);
        }
    }

    internal void DisposeTimer()
    {
        ITimer? timer;
        lock (this)
        {
            timer = _deadline;
            _deadline = null;
            _armedDue = 0;
        }

        timer?.Dispose();
    }
}

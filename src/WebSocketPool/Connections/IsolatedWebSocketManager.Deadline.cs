// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool;

/// <summary>The send/close deadline: one timer per manager, armed at most once per message, never throwing.</summary>
public sealed partial class IsolatedWebSocketManager
{
    private static readonly TimeSpan s_minimumRearm = TimeSpan.FromMilliseconds(1);

    private static readonly TimerCallback s_onDeadline = static state => ((IsolatedWebSocketManager)state!).OnDeadline();

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

    internal void DisposeTimer() => Interlocked.Exchange(ref _deadline, null)?.Dispose();
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Internal;

/// <summary>
/// A small token bucket refilled lazily from <see cref="TimeProvider.GetTimestamp"/>. The platform's
/// <c>TokenBucketRateLimiter</c> replenishes on its own wall-clock timer and takes no <see cref="TimeProvider"/>,
/// which makes per-user buckets both costlier (a timer each) and untestable with a fake clock. Not thread-safe:
/// callers hold the owning user's lock.
/// </summary>
internal struct TokenBucket
{
    private double _tokens;
    private long _last;
    private bool _started;

    public bool TryTake(TimeProvider time, double perSecond, int burst, out TimeSpan retryAfter)
    {
        Refill(time, perSecond, burst);
        if (_tokens >= 1)
        {
            _tokens -= 1;
            retryAfter = TimeSpan.Zero;
            return true;
        }

        retryAfter = TimeSpan.FromSeconds((1 - _tokens) / perSecond);
        return false;
    }

    public bool WouldAllow(TimeProvider time, double perSecond, int burst, out TimeSpan retryAfter)
    {
        var copy = this;
        copy.Refill(time, perSecond, burst);
        retryAfter = copy._tokens >= 1 ? TimeSpan.Zero : TimeSpan.FromSeconds((1 - copy._tokens) / perSecond);
        return copy._tokens >= 1;
    }

    /// <summary>A full (or never used) bucket holds no state worth keeping.</summary>
    public bool IsFull(TimeProvider time, double perSecond, int burst)
    {
        if (!_started || perSecond <= 0)
        {
            return true;
        }

        var copy = this;
        copy.Refill(time, perSecond, burst);
        return copy._tokens >= burst;
    }

    private void Refill(TimeProvider time, double perSecond, int burst)
    {
        var now = time.GetTimestamp();
        if (!_started)
        {
            _started = true;
            _tokens = burst;
            _last = now;
            return;
        }

        var elapsed = time.GetElapsedTime(_last, now).TotalSeconds;
        if (elapsed > 0)
        {
            _tokens = Math.Min(burst, _tokens + (elapsed * perSecond));
            _last = now;
        }
    }
}

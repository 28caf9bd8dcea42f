// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Logging;

namespace WebSocketPool.Internal;

/// <summary>
/// Decides a connection attempt before the upgrade, in DESIGN order: draining, connect rate, global cap, per-user cap
/// (with the overflow policy). An admitted attempt reserves its places atomically under the user's lock: a per-user
/// slot, or under EvictOldest at the limit a pledge of the victim's slot (kept only once the new socket is accepted),
/// and always a place in the node's count. A preview answers the same question and reserves nothing.
/// </summary>
internal sealed class AdmissionDecider(
    WebSocketPoolOptions options,
    TimeProvider timeProvider,
    UserTable users,
    ManagerLeases leases,
    PoolDrain drain,
    WebSocketPoolMetrics metrics,
    ILogger logger,
    Action<string, int, int> onNearLimit)
{
    private static readonly TimeSpan s_retryAfterBusy = TimeSpan.FromSeconds(5);

    private readonly long[] _rejected = new long[RejectionReasons.All.Count];

    public WebSocketAdmission TryAdmit(string userKey)
    {
        var limit = options.MaxConnectionsPerUser;
        if (drain.IsDraining)
        {
            return Reject(RejectionReasons.Draining, limit, users.GetConnectionCount(userKey));
        }

        while (true)
        {
            var entry = users.GetOrAdd(userKey);
            WebSocketAdmission? rejection = null;
            IsolatedWebSocketManager? manager = null;
            long generation = 0;
            var crossed = false;
            int count;
            List<IsolatedWebSocketManager>? expired;
            lock (entry)
            {
                if (entry.Removed)
                {
                    continue;
                }

                expired = leases.TrimWarm(entry);
                count = entry.Count;
                if (options.ConnectRateLimit > 0
                    && !entry.ConnectBucket.TryTake(timeProvider, options.ConnectRateLimit, options.ConnectRateBurst, out var wait))
                {
                    rejection = Reject(RejectionReasons.RateLimited, limit, count, wait);
                }
                else if (users.Active >= options.MaxConnections)
                {
                    rejection = Reject(RejectionReasons.GlobalLimit, options.MaxConnections, users.Active);
                }
                else if (count >= limit)
                {
                    // EvictOldest: the newcomer pledges the victim's slot now (so the user's count never exceeds the limit)
                    // and takes it only once its socket is accepted; the victim is closed then, and not before.
                    // A closing victim still holds its socket, so the newcomer needs a place in the node's count of its own.
                    IsolatedWebSocketManager? victim;
                    if (options.OverflowPolicy != OverflowPolicy.EvictOldest || (victim = ChooseVictim(entry)) is null)
                    {
                        rejection = Reject(RejectionReasons.UserLimit, limit, count);
                    }
                    else if (!users.TryIncrementActive())
                    {
                        rejection = Reject(RejectionReasons.GlobalLimit, options.MaxConnections, users.Active);
                    }
                    else
                    {
                        (manager, generation) = leases.Lease(entry, userKey, holdsSlot: false);
                        manager.PledgeVictim = victim;
                        manager.PledgeVictimGeneration = victim.Generation;
                        victim.PledgedTo = manager;
                        victim.PledgedToGeneration = generation;
                    }
                }
                else if (!users.TryIncrementActive())
                {
                    rejection = Reject(RejectionReasons.GlobalLimit, options.MaxConnections, users.Active);
                }
                else
                {
                    count = ++entry.Count;
                    (manager, generation) = leases.Lease(entry, userKey, holdsSlot: true);
                    crossed = users.UpdateNearLimit(entry);
                }

                if (rejection is not null)
                {
                    users.TryRemove(entry);
                }
            }

            leases.ReturnToPool(expired);
            if (rejection is { } refused)
            {
                return refused;
            }

            if (crossed)
            {
                onNearLimit(userKey, count, limit);
            }

            return new WebSocketAdmission(null, 101, limit, count, null, manager, generation);
        }
    }

    public WebSocketAdmission Preview(string userKey)
    {
        var limit = options.MaxConnectionsPerUser;
        var count = 0;
        var wait = TimeSpan.Zero;
        var rateOk = true;
        if (users.TryGet(userKey, out var entry))
        {
            lock (entry)
            {
                count = entry.Count;
                rateOk = options.ConnectRateLimit <= 0 || entry.ConnectBucket.WouldAllow(timeProvider, options.ConnectRateLimit, options.ConnectRateBurst, out wait);
            }
        }

        if (drain.IsDraining)
        {
            return Refusal(RejectionReasons.Draining, limit, count, drain.RetryAfter);
        }

        if (!rateOk)
        {
            return Refusal(RejectionReasons.RateLimited, limit, count, wait);
        }

        if (users.Active >= options.MaxConnections)
        {
            return Refusal(RejectionReasons.GlobalLimit, options.MaxConnections, users.Active, s_retryAfterBusy);
        }

        if (count >= limit && options.OverflowPolicy == OverflowPolicy.Reject)
        {
            return Refusal(RejectionReasons.UserLimit, limit, count, s_retryAfterBusy);
        }

        return new WebSocketAdmission(null, 200, limit, count, null);
    }

    /// <summary>Counts a refusal under its reason tag.</summary>
    public void RecordRejection(string reason)
    {
        var index = RejectionIndex(reason);
        Interlocked.Increment(ref _rejected[index]);
        metrics.Rejected(RejectionReasons.All[index]);
    }

    /// <summary>Gets how many attempts were refused with the reason at <paramref name="index"/> of <see cref="RejectionReasons.All"/>.</summary>
    public long RejectedCount(int index) => Interlocked.Read(ref _rejected[index]);

    public static int StatusCodeOf(string reason) => reason switch
    {
        RejectionReasons.Draining or RejectionReasons.GlobalLimit or RejectionReasons.ClusterUnavailable => 503,
        RejectionReasons.Origin => 403,
        RejectionReasons.Unauthenticated => 401,
        _ => 429,
    };

    /// <summary>
    /// The victim of EvictOldest: the user's open connection silent longest (no inbound message), else the oldest. Only
    /// one that holds its slot and is not already promised to another newcomer; a handshake in progress (the newest) is
    /// never the victim.
    /// </summary>
    private static IsolatedWebSocketManager? ChooseVictim(UserEntry entry)
    {
        IsolatedWebSocketManager? victim = null;
        foreach (var candidate in entry.Active)
        {
            if (!candidate.HoldsSlot || !candidate.HasSocket || !candidate.IsOpenForSend || candidate.PledgedTo is not null)
            {
                continue;
            }

            if (victim is null
                || candidate.SilentSince < victim.SilentSince
                || (candidate.SilentSince == victim.SilentSince && candidate.ConnectedTimestamp < victim.ConnectedTimestamp))
            {
                victim = candidate;
            }
        }

        return victim;
    }

    private static WebSocketAdmission Refusal(string reason, int limit, int current, TimeSpan? retryAfter) =>
        new(reason, StatusCodeOf(reason), limit, current, retryAfter);

    private static int RejectionIndex(string reason)
    {
        for (var i = 0; i < RejectionReasons.All.Count; i++)
        {
            if (string.Equals(RejectionReasons.All[i], reason, StringComparison.Ordinal))
            {
                return i;
            }
        }

        throw new ArgumentException($"Unknown rejection reason '{reason}'.", nameof(reason));
    }

    private WebSocketAdmission Reject(string reason, int limit, int current, TimeSpan? retryAfter = null)
    {
        RecordRejection(reason);
        SafeDiagnostics.Run(static (l, state) => PoolLog.Rejected(l, state.reason, state.current, state.limit), logger, (reason, current, limit));
        return Refusal(reason, limit, current, retryAfter ?? (reason == RejectionReasons.Draining ? drain.RetryAfter : s_retryAfterBusy));
    }
}

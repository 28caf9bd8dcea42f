// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using Microsoft.Extensions.Logging;

namespace WebSocketPool.Internal;

/// <summary>
/// Decides a connection attempt before the upgrade, in DESIGN order: draining, per-IP connect rate, per-IP cap, per-user
/// connect rate, global cap, per-user cap (with the overflow policy). An admitted attempt reserves its places atomically
/// under the user's lock (and its address's, taken inside it): a per-user slot, or under EvictOldest at the limit a
/// pledge of the victim's slot (kept only once the new socket is accepted), always a place in the node's count, and a
/// place in its address's count when a per-IP limit is on. A preview answers the same question and reserves nothing.
/// </summary>
/// <remarks>
/// The per-IP checks come first among the limits: they are what stops one client from opening connections under many
/// user names, so a client at its address's limit is told so (429 <c>ip_limit</c>) whatever its users' counts are, and
/// a refused attempt spends none of the user's connect tokens.
/// </remarks>
internal sealed class AdmissionDecider(
    WebSocketPoolOptions options,
    TimeProvider timeProvider,
    UserTable users,
    AddressTable addresses,
    ManagerLeases leases,
    PoolDrain drain,
    WebSocketPoolMetrics metrics,
    ILogger logger,
    Action<string, int, int> onNearLimit)
{
    private static readonly TimeSpan s_retryAfterBusy = TimeSpan.FromSeconds(5);

    private readonly long[] _rejected = new long[RejectionReasons.All.Count];

    public WebSocketAdmission TryAdmit(string userKey, IPAddress? clientAddress)
    {
        var limit = options.MaxConnectionsPerUser;
        if (drain.IsDraining)
        {
            return Reject(RejectionReasons.Draining, limit, users.GetConnectionCount(userKey));
        }

        var addressKey = addresses.KeyOf(clientAddress);
        var admission = AdmitUnderLocks(userKey, addressKey, firstPass: true, out var crossedAlert, out var takeBack);
        if (takeBack)
        {
            // The cap was reached while other users may keep places: they go back to the node (outside every user's lock,
            // which the walk takes one at a time), then the admission is decided once more, and refused if still at the cap.
            users.TakeBackKeptPlaces();
            admission = AdmitUnderLocks(userKey, addressKey, firstPass: false, out crossedAlert, out _);
        }

        if (crossedAlert)
        {
            onNearLimit(userKey, admission.Current, limit);
        }

        return admission;
    }

    /// <summary>
    /// Takes a connect token from the address's bucket and then the user's, as an admission does, reserving nothing
    /// else (a resume keeps its held slot). Under the user's lock and the address's, in the admission's order.
    /// </summary>
    public WebSocketAdmission? TakeConnectTokens(string userKey, IPAddress? clientAddress)
    {
        if (options.ConnectRateLimitPerIP <= 0 && options.ConnectRateLimit <= 0)
        {
            return null;
        }

        var addressKey = options.ConnectRateLimitPerIP > 0 ? addresses.KeyOf(clientAddress) : null;
        return UnderLocks(userKey, addressKey, (Self: this, UserKey: userKey), static (entry, address, s) => s.Self.TakeConnectTokensLocked(entry, address, s.UserKey));
    }

    public WebSocketAdmission Preview(string userKey, IPAddress? clientAddress)
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

        if (users.Shared is { } shared)
        {
            count = shared.Count(userKey);
        }

        var addressCount = 0;
        var addressWait = TimeSpan.Zero;
        var addressRateOk = true;
        if (addresses.KeyOf(clientAddress) is { } addressKey && addresses.TryGet(addressKey, out var address))
        {
            lock (address)
            {
                addressCount = address.Count;
                addressRateOk = options.ConnectRateLimitPerIP <= 0
                    || address.ConnectBucket.WouldAllow(timeProvider, options.ConnectRateLimitPerIP, options.ConnectRateBurstPerIP, out addressWait);
            }
        }

        if (drain.IsDraining)
        {
            return Refusal(RejectionReasons.Draining, limit, count, drain.RetryAfter);
        }

        if (!addressRateOk)
        {
            return Refusal(RejectionReasons.IPRateLimited, options.MaxConnectionsPerIP, addressCount, addressWait);
        }

        if (options.MaxConnectionsPerIP > 0 && addressCount >= options.MaxConnectionsPerIP)
        {
            return Refusal(RejectionReasons.IPLimit, options.MaxConnectionsPerIP, addressCount, s_retryAfterBusy);
        }

        if (!rateOk)
        {
            return Refusal(RejectionReasons.RateLimited, limit, count, wait);
        }

        // The node's count first (one read); the places the leases hold only at the cap (a walk of the users while places
        // may be kept), since an admission would take back the places users keep before refusing.
        if (users.Taken >= options.MaxConnections && users.Active is var active && active >= options.MaxConnections)
        {
            return Refusal(RejectionReasons.GlobalLimit, options.MaxConnections, active, s_retryAfterBusy);
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
        RejectionReasons.SubProtocol => 400,
        _ => 429,
    };

    /// <summary>
    /// Under the user's lock (and the address's): the checks in order, and the places taken when all pass. Returns the
    /// refusal, or the admission holding its lease. At the node's cap on the <paramref name="firstPass"/> while users may
    /// keep places, decides nothing (see <see cref="AtCapAfterAll"/>) and sets <paramref name="takeBack"/>: the caller
    /// takes the places back outside the lock and asks again (a second pass, which takes no connect token again).
    /// </summary>
    private WebSocketAdmission Decide(UserEntry entry, AddressEntry? address, string userKey, bool firstPass, out bool crossedAlert, out bool takeBack)
    {
        crossedAlert = false;
        takeBack = false;
        var limit = options.MaxConnectionsPerUser;

        // In a limit group the user's count is the group's total, which the pools of the group share.
        var shared = users.Shared;
        var count = shared?.Count(userKey) ?? entry.Count;
        TimeSpan wait;
        // The connect tokens are taken on the first pass only: a second pass (after a take-back) is the same attempt.
        if (firstPass && address is not null && options.ConnectRateLimitPerIP > 0
            && !address.ConnectBucket.TryTake(timeProvider, options.ConnectRateLimitPerIP, options.ConnectRateBurstPerIP, out wait))
        {
            return Reject(RejectionReasons.IPRateLimited, options.MaxConnectionsPerIP, address.Count, wait);
        }

        if (address is not null && options.MaxConnectionsPerIP > 0 && address.Count >= options.MaxConnectionsPerIP)
        {
            return Reject(RejectionReasons.IPLimit, options.MaxConnectionsPerIP, address.Count);
        }

        if (firstPass && options.ConnectRateLimit > 0
            && !entry.ConnectBucket.TryTake(timeProvider, options.ConnectRateLimit, options.ConnectRateBurst, out wait))
        {
            return Reject(RejectionReasons.RateLimited, limit, count, wait);
        }

        if (users.AtCap(entry))
        {
            return AtCapAfterAll(firstPass, out takeBack);
        }

        if (count >= limit)
        {
            // EvictOldest (a victim of this pool's only; in a limit group the user may hold none here: then refused): the newcomer pledges the victim's slot now (so the user's count never exceeds the limit)
            // and takes it only once its socket is accepted; the victim is closed then, and not before.
            // A closing victim still holds its socket, so the newcomer needs a place in the node's count of its own.
            IsolatedWebSocketManager? victim;
            if (options.OverflowPolicy != OverflowPolicy.EvictOldest || (victim = ChooseVictim(entry)) is null)
            {
                return Reject(RejectionReasons.UserLimit, limit, count);
            }

            if (!users.TryTakeNodePlace(entry))
            {
                return AtCapAfterAll(firstPass, out takeBack);
            }

            var (pledger, pledgerGeneration) = leases.Lease(entry, userKey, holdsSlot: false, address);
            pledger.PledgeVictim = victim;
            pledger.PledgeVictimGeneration = victim.Generation;
            pledger.PledgeVictimConnectionId = victim.GetConnectionId();
            victim.PledgedTo = pledger;
            victim.PledgedToGeneration = pledgerGeneration;
            return new WebSocketAdmission(null, 101, limit, count, null, pledger, pledgerGeneration);
        }

        if (!users.TryTakeNodePlace(entry))
        {
            return AtCapAfterAll(firstPass, out takeBack);
        }

        if (shared is not null && !shared.TryTake(userKey, out count))
        {
            // Another pool of the group took the user's last place since it was read.
            users.GiveBackNodePlace(entry);
            return Reject(RejectionReasons.UserLimit, limit, count);
        }

        ++entry.Count;
        count = shared is null ? entry.Count : count;
        var (manager, generation) = leases.Lease(entry, userKey, holdsSlot: true, address);
        crossedAlert = users.UpdateNearLimit(entry);
        return new WebSocketAdmission(null, 101, limit, count, null, manager, generation);
    }

    /// <summary>
    /// Under the locks, the node's cap reached: on the first pass, while users keep places, an undecided answer (a refusal
    /// neither counted nor logged, so that a caller that ignored <paramref name="takeBack"/> would refuse, never admit)
    /// with <paramref name="takeBack"/> set; else the refusal.
    /// </summary>
    private WebSocketAdmission AtCapAfterAll(bool firstPass, out bool takeBack)
    {
        takeBack = firstPass && users.KeepsPlaces;
        return takeBack
            ? Refusal(RejectionReasons.GlobalLimit, options.MaxConnections, users.Taken, s_retryAfterBusy)
            : Reject(RejectionReasons.GlobalLimit, options.MaxConnections, users.Taken);
    }

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

    /// <summary>
    /// Runs <paramref name="decide"/> under the user's lock and, for a per-IP key, the address's lock taken inside it (as
    /// on every path that changes an address's count); tries again when either entry was removed meanwhile.
    /// </summary>
    private TResult UnderLocks<TState, TResult>(string userKey, IPAddress? addressKey, TState state, Func<UserEntry, AddressEntry?, TState, TResult> decide)
    {
        while (true)
        {
            var entry = users.GetOrAdd(userKey);
            lock (entry)
            {
                if (entry.Removed || !TryLockAddress(addressKey, out var address))
                {
                    continue;
                }

                try
                {
                    return decide(entry, address, state);
                }
                finally
                {
                    if (address is not null)
                    {
                        Monitor.Exit(address);
                    }
                }
            }
        }
    }

    /// <summary>
    /// Under the user's lock: the entry of <paramref name="addressKey"/> (none without a key) with its lock taken; false
    /// when that entry was removed meanwhile, and the caller tries again with a fresh one.
    /// </summary>
    private bool TryLockAddress(IPAddress? addressKey, out AddressEntry? address)
    {
        address = addressKey is null ? null : addresses.GetOrAdd(addressKey);
        if (address is null)
        {
            return true;
        }

        Monitor.Enter(address);
        if (!address.Removed)
        {
            return true;
        }

        Monitor.Exit(address);
        return false;
    }

    /// <summary>
    /// The admission's checks and, when they pass, its reservation, under the user's lock and, for a per-IP key, the
    /// address's lock taken inside it (as on every path that changes an address's count); tries again when either entry
    /// was removed meanwhile. Warm managers past the reuse window are pooled after the locks.
    /// </summary>
    private WebSocketAdmission AdmitUnderLocks(string userKey, IPAddress? addressKey, bool firstPass, out bool crossedAlert, out bool takeBack)
    {
        while (true)
        {
            var entry = users.GetOrAdd(userKey);
            List<IsolatedWebSocketManager>? expired;
            WebSocketAdmission admission;
            lock (entry)
            {
                if (entry.Removed || !TryLockAddress(addressKey, out var address))
                {
                    continue;
                }

                try
                {
                    expired = leases.TrimWarmBeforeLease(entry);
                    admission = Decide(entry, address, userKey, firstPass, out crossedAlert, out takeBack);
                    if (!admission.IsAdmitted)
                    {
                        ForgetIfIdle(entry, address);
                    }
                }
                finally
                {
                    if (address is not null)
                    {
                        Monitor.Exit(address);
                    }
                }
            }

            leases.ReturnToPool(expired);
            return admission;
        }
    }

    /// <summary>Under the locks: a connect token from the address's bucket, then from the user's.</summary>
    private WebSocketAdmission? TakeConnectTokensLocked(UserEntry entry, AddressEntry? address, string userKey)
    {
        TimeSpan wait;
        WebSocketAdmission? refusal = null;
        if (address is not null
            && !address.ConnectBucket.TryTake(timeProvider, options.ConnectRateLimitPerIP, options.ConnectRateBurstPerIP, out wait))
        {
            refusal = Reject(RejectionReasons.IPRateLimited, options.MaxConnectionsPerIP, address.Count, wait);
        }
        else if (options.ConnectRateLimit > 0
            && !entry.ConnectBucket.TryTake(timeProvider, options.ConnectRateLimit, options.ConnectRateBurst, out wait))
        {
            refusal = Reject(RejectionReasons.RateLimited, options.MaxConnectionsPerUser, users.Shared?.Count(userKey) ?? entry.Count, wait);
        }

        ForgetIfIdle(entry, address);
        return refusal;
    }

    /// <summary>Under the locks: drops the user's and the address's entries if they hold nothing a later attempt needs.</summary>
    private void ForgetIfIdle(UserEntry entry, AddressEntry? address)
    {
        users.TryRemove(entry);
        if (address is not null)
        {
            addresses.TryRemove(address);
        }
    }

    private WebSocketAdmission Reject(string reason, int limit, int current, TimeSpan? retryAfter = null)
    {
        RecordRejection(reason);
        SafeDiagnostics.Run(static (l, state) => PoolLog.Rejected(l, state.reason, state.current, state.limit), logger, (reason, current, limit));
        return Refusal(reason, limit, current, retryAfter ?? (reason == RejectionReasons.Draining ? drain.RetryAfter : s_retryAfterBusy));
    }
}

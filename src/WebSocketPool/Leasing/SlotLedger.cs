// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Internal;

/// <summary>
/// The one place where a slot is released. A lease holds two places, three with a per-IP limit: a per-user slot (or,
/// under EvictOldest, a pledge of another lease's slot), a place in the node's count and one in its client address's. Every path out of a connection comes here: the end of a
/// socket (close, drop, keep-alive, handler error, abort, eviction, kick, shutdown) from the <c>finally</c> of its run,
/// an abandoned handshake, a kick (the user slot at once, the node place when the socket ends), an eviction (the slot
/// handed to the newcomer), the end of a lease, and the audit's repair. Each release checks and clears the lease's
/// generation under the user's lock (the lock makes the pair atomic): a double release is harmless and a late one can
/// never free a later lease's.
/// </summary>
internal sealed class SlotLedger(UserTable users, AddressTable addresses, ConnectionRegistry registry, GroupRegistry groups, AdmissionGateLink gate)
{
    public enum Release
    {
        None,
        Freed,
        HandedOver,
        PledgeWithdrawn,
    }

    /// <summary>
    /// Releases every place of lease <paramref name="generation"/>, takes it out of the registry and its groups, and
    /// tells the gate. Idempotent.
    /// </summary>
    public void ReleaseAll(IsolatedWebSocketManager manager, long generation)
    {
        if (manager.Entry is not { } entry)
        {
            return;
        }

        // Read, then checked against the lease: numbers change only across a generation, so the number is this lease's.
        var number = manager.Number;
        if (!manager.IsCurrent(generation))
        {
            return;
        }

        Unlist(manager, number);
        bool released;
        lock (entry)
        {
            if (!manager.IsCurrent(generation))
            {
                return;
            }

            released = ReleaseAllLocked(entry, manager, generation);
        }

        if (released)
        {
            gate.Release(entry.UserKey, number);
        }
    }

    /// <summary>
    /// Before the user's lock: takes lease <paramref name="number"/> out of its groups, then out of the registry. Groups
    /// first, then the registry, then (under the lock) the slots: whoever sees a count drop sees the connection gone from
    /// the registry, and whoever sees it gone from the registry sees it gone from its groups.
    /// </summary>
    public void Unlist(IsolatedWebSocketManager manager, long number)
    {
        groups.RemoveAll(manager);
        registry.Remove(number, manager);
    }

    /// <summary>
    /// Under the user's lock: every place, without the registry; true when the gate must hear of it. The node's place and
    /// the address's go together: both count the socket until it has ended.
    /// </summary>
    public bool ReleaseAllLocked(UserEntry entry, IsolatedWebSocketManager manager, long generation)
    {
        var released = ReleaseUserSlotLocked(entry, manager, generation) != Release.None;
        var address = manager.Address;
        if (manager.TryTakeNodeSlot(generation))
        {
            users.GiveBackNodePlace(entry);
        }

        if (address is not null && manager.TryTakeAddressSlot(generation))
        {
            addresses.Release(address);
        }

        return released;
    }

    /// <summary>Gives up only the per-user slot (a kick: the socket keeps its place in the node's count until it ends).</summary>
    public void ReleaseUserSlot(IsolatedWebSocketManager manager, long generation)
    {
        if (manager.Entry is not { } entry)
        {
            return;
        }

        var number = manager.Number;
        Release released;
        lock (entry)
        {
            released = manager.IsCurrent(generation) ? ReleaseUserSlotLocked(entry, manager, generation) : Release.None;
        }

        if (released != Release.None)
        {
            gate.Release(entry.UserKey, number);
        }
    }

    /// <summary>
    /// Under the user's lock: gives up the per-user slot of lease <paramref name="generation"/>, or withdraws its pledge.
    /// A slot another admission pledged passes to that admission instead of being freed, so the count stays within the
    /// limit.
    /// </summary>
    public Release ReleaseUserSlotLocked(UserEntry entry, IsolatedWebSocketManager manager, long generation)
    {
        if (!manager.TryTakeSlot(generation))
        {
            if (manager.PledgeVictim is not null && manager.IsCurrent(generation))
            {
                WithdrawPledgeLocked(manager);
                return Release.PledgeWithdrawn;
            }

            return Release.None;
        }

        var heir = manager.PledgedTo;
        var heirGeneration = manager.PledgedToGeneration;
        manager.PledgedTo = null;
        manager.PledgedToGeneration = 0;
        if (heir is not null && heir.IsCurrent(heirGeneration) && ReferenceEquals(heir.PledgeVictim, manager))
        {
            heir.PledgeVictim = null;
            heir.PledgeVictimGeneration = 0;
            heir.GiveSlot(heirGeneration);
            return Release.HandedOver;
        }

        entry.Count--;
        users.Shared?.Adjust(entry.UserKey, -1);
        users.UpdateNearLimit(entry);
        return Release.Freed;
    }

    /// <summary>
    /// Under the user's lock: the admitted lease's socket was accepted, so the slot it pledged passes to it now. Returns
    /// the victim to close (with its generation and number), or <see langword="null"/> when there is none: no pledge, or
    /// the victim ended on its own meanwhile and its slot already passed to this lease.
    /// </summary>
    public IsolatedWebSocketManager? KeepPledgeLocked(UserEntry entry, IsolatedWebSocketManager manager, long generation, out long victimGeneration, out long victimNumber)
    {
        victimGeneration = 0;
        victimNumber = 0;
        var victim = manager.PledgeVictim;
        if (victim is null || !manager.IsCurrent(generation))
        {
            return null;
        }

        victimGeneration = manager.PledgeVictimGeneration;
        victimNumber = victim.Number;
        if (ReleaseUserSlotLocked(entry, victim, victimGeneration) != Release.HandedOver)
        {
            // Cannot happen while the pledge stands (the victim's slot is released only here, which hands it over);
            // withdraw the pledge rather than over-admit.
            WithdrawPledgeLocked(manager);
            return null;
        }

        return victim;
    }

    /// <summary>Under the user's lock: an admission gives up the slot it pledged; the victim keeps it.</summary>
    private static void WithdrawPledgeLocked(IsolatedWebSocketManager manager)
    {
        if (manager.PledgeVictim is { } victim && ReferenceEquals(victim.PledgedTo, manager))
        {
            victim.PledgedTo = null;
            victim.PledgedToGeneration = 0;
        }

        manager.PledgeVictim = null;
        manager.PledgeVictimGeneration = 0;
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Globalization;
using System.Text;

namespace WebSocketPool.Tests.Model;

/// <summary>
/// The sequential specification of the pool's admission and release, written from DESIGN.md's rules rather than from
/// the code: a per-user count of slots (a pledge of EvictOldest counts nothing until its socket is accepted), a node
/// count of handshakes, open and closing sockets, a per-address count of the same (when a per-IP limit is on), the victim
/// that is evicted only once the newcomer is accepted, and a kick that frees the user's slots at once. Operations are the same as <see cref="PoolHarness"/>'s, acting on "the
/// first lease of user u in admission order" in a given state. Never thread safe: CsCheck runs it sequentially.
/// </summary>
internal sealed class PoolModel(PoolModelConfig config)
{
    private readonly List<Lease> _leases = [];
    private readonly int[] _count = new int[config.Users];
    private readonly int[] _addressCount = new int[config.Addresses];
    private int _active;
    private bool _draining;

    public int Count(int user) => _count[user];

    public int Active => _active;

    public int AddressCount(int address) => _addressCount[address];

    public int Open(int user) => _leases.Count(l => l.User == user && l.IsOpen);

    public int Handshakes(int user) => _leases.Count(l => l.User == user && !l.IsOpen);

    public void Admit(int user, int address)
    {
        if (_draining || (config.LimitPerAddress > 0 && _addressCount[address] >= config.LimitPerAddress) || _active >= config.MaxConnections)
        {
            return;
        }

        if (_count[user] < config.LimitPerUser)
        {
            _count[user]++;
            _active++;
            Count(address, +1);
            _leases.Add(new Lease(user, address) { HoldsSlot = true });
            return;
        }

        var victim = config.EvictOldest ? _leases.FirstOrDefault(l => l.User == user && l.IsOpen && l.HoldsSlot && l.PledgedTo is null) : null;
        if (victim is null)
        {
            return;
        }

        var newcomer = new Lease(user, address) { PledgeVictim = victim };
        victim.PledgedTo = newcomer;
        _active++;
        Count(address, +1);
        _leases.Add(newcomer);
    }

    public void Abandon(int user)
    {
        if (FirstHandshake(user) is { } lease)
        {
            End(lease);
        }
    }

    public void Accept(int user)
    {
        if (FirstHandshake(user) is not { } lease)
        {
            return;
        }

        if (lease.Kicked)
        {
            // Closed with the kick's code as soon as it is accepted.
            End(lease);
            return;
        }

        lease.IsOpen = true;
        if (lease.PledgeVictim is { } victim)
        {
            // The pledge is kept now that the newcomer is certain: the victim's slot passes to it, the victim is closed.
            victim.PledgedTo = null;
            lease.PledgeVictim = null;
            lease.HoldsSlot = true;
            victim.HoldsSlot = false;
            End(victim);
        }

        if (_draining)
        {
            End(lease);
        }
    }

    public void Close(int user)
    {
        if (_leases.FirstOrDefault(l => l.User == user && l.IsOpen) is { } lease)
        {
            End(lease);
        }
    }

    public void Kick(int user)
    {
        foreach (var lease in _leases.Where(l => l.User == user && !l.Kicked).ToList())
        {
            ReleaseUserSlot(lease);
            if (lease.IsOpen)
            {
                End(lease);
            }
            else
            {
                lease.Kicked = true;
            }
        }
    }

    public void Drain()
    {
        _draining = true;
        foreach (var lease in _leases.Where(l => l.IsOpen).ToList())
        {
            End(lease);
        }
    }

    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"active={_active} draining={_draining}");
        for (var u = 0; u < _count.Length; u++)
        {
            text.Append(CultureInfo.InvariantCulture, $" | u{u}: count={_count[u]} open={Open(u)} handshakes={Handshakes(u)}");
        }

        for (var a = 0; a < _addressCount.Length; a++)
        {
            text.Append(CultureInfo.InvariantCulture, $" | a{a}: count={_addressCount[a]}");
        }

        return text.ToString();
    }

    private Lease? FirstHandshake(int user) => _leases.FirstOrDefault(l => l.User == user && !l.IsOpen);

    /// <summary>The socket has ended (or the handshake was given up): all of its places go.</summary>
    private void End(Lease lease)
    {
        ReleaseUserSlot(lease);
        _active--;
        Count(lease.Address, -1);
        _leases.Remove(lease);
    }

    /// <summary>An address is counted only while a per-IP limit is on.</summary>
    private void Count(int address, int delta)
    {
        if (config.LimitPerAddress > 0)
        {
            _addressCount[address] += delta;
        }
    }

    /// <summary>A slot another admission pledged passes to it; a pledge of its own is withdrawn; otherwise it is freed.</summary>
    private void ReleaseUserSlot(Lease lease)
    {
        if (lease.HoldsSlot)
        {
            lease.HoldsSlot = false;
            if (lease.PledgedTo is { } heir)
            {
                heir.PledgeVictim = null;
                heir.HoldsSlot = true;
                lease.PledgedTo = null;
            }
            else
            {
                _count[lease.User]--;
            }
        }
        else if (lease.PledgeVictim is { } victim)
        {
            victim.PledgedTo = null;
            lease.PledgeVictim = null;
        }
    }

    private sealed class Lease(int user, int address)
    {
        public int User { get; } = user;

        public int Address { get; } = address;

        public bool IsOpen { get; set; }

        public bool HoldsSlot { get; set; }

        public bool Kicked { get; set; }

        public Lease? PledgeVictim { get; set; }

        public Lease? PledgedTo { get; set; }
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Logging;

namespace WebSocketPool.Internal;

/// <summary>
/// The per-IP entries behind <see cref="WebSocketPoolOptions.MaxConnectionsPerIP"/> and
/// <see cref="WebSocketPoolOptions.ConnectRateLimitPerIP"/>. An address's count changes only under the lock of the user
/// whose lease it is and then the address's own lock (always in that order), so an audit holding every user's lock sees
/// it stand still. An entry goes as soon as it counts no connection and its bucket has refilled, so memory does not grow
/// with the number of addresses ever seen: at once when its last connection ends (without a rate limit), otherwise by the
/// sweep once the bucket is full again.
/// </summary>
internal sealed class AddressTable : IDisposable
{
    private readonly ConcurrentDictionary<IPAddress, AddressEntry> _entries = new();
    private readonly WebSocketPoolOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly ITimer? _sweepTimer;

    public AddressTable(WebSocketPoolOptions options, TimeProvider timeProvider, ILogger logger)
    {
        _options = options;
        _timeProvider = timeProvider;
        _logger = logger;
        IsEnabled = options.MaxConnectionsPerIP > 0 || options.ConnectRateLimitPerIP > 0;

        // Only a rate bucket keeps an entry that counts nothing; it is full again after burst / rate seconds.
        if (options.ConnectRateLimitPerIP > 0)
        {
            var period = TimeSpan.FromSeconds(Math.Clamp(options.ConnectRateBurstPerIP / options.ConnectRateLimitPerIP, 1, 60));
            _sweepTimer = timeProvider.CreateTimer(static s => ((AddressTable)s!).Sweep(), this, period, period);
        }
    }

    /// <summary>Gets a value indicating whether any per-IP limit is on (otherwise no address is ever counted).</summary>
    public bool IsEnabled { get; }

    public int Count => _entries.Count;

    /// <summary>Gets the entries; enumerating the dictionary itself takes no lock and copies nothing.</summary>
    public ConcurrentDictionary<IPAddress, AddressEntry> Entries => _entries;

    /// <summary>The key to count <paramref name="address"/> under, or <see langword="null"/> when no per-IP limit applies.</summary>
    public IPAddress? KeyOf(IPAddress? address) => IsEnabled ? ClientAddress.KeyOf(address, _options.IPv6PrefixLength) : null;

    public AddressEntry GetOrAdd(IPAddress key) => _entries.GetOrAdd(key, static k => new AddressEntry(k));

    public bool TryGet(IPAddress key, out AddressEntry entry) => _entries.TryGetValue(key, out entry!);

    /// <summary>Under a user's lock: gives back a lease's place in its address's count.</summary>
    public void Release(AddressEntry entry)
    {
        lock (entry)
        {
            entry.Count--;
            TryRemove(entry);
        }
    }

    /// <summary>Under the entry's lock: removes the entry when it holds nothing worth keeping.</summary>
    public void TryRemove(AddressEntry entry)
    {
        if (entry.Count == 0 && !entry.Removed
            && entry.ConnectBucket.IsFull(_timeProvider, _options.ConnectRateLimitPerIP, _options.ConnectRateBurstPerIP))
        {
            entry.Removed = true;
            _entries.TryRemove(new KeyValuePair<IPAddress, AddressEntry>(entry.Key, entry));
        }
    }

    /// <summary>Removes the entries of idle addresses whose bucket has refilled. Memory only; never throws.</summary>
    public void Sweep()
    {
        try
        {
            foreach (var (_, entry) in _entries)
            {
                lock (entry)
                {
                    TryRemove(entry);
                }
            }
        }
#pragma warning disable CA1031 // A timer callback must never throw: that would end the process.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            SafeDiagnostics.Run(static (l, e) => PoolLog.UnexpectedFailure(l, "per-IP entry sweep", e), _logger, ex);
        }
    }

    public void Dispose() => _sweepTimer?.Dispose();
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace LoadHarness.Client;

/// <summary>
/// Sizes and durations of one cluster run. Quick mode is a smoke run of a few minutes; full mode holds 15,000 idle
/// connections per node (45,000 in all) for publishing. A process here may open 20,000 files, so idle connections are
/// held by several client processes of at most <see cref="ConnectionsPerClientProcess"/> each, and each node holds
/// at most <see cref="NodeCap"/>.
/// </summary>
internal sealed record ClusterSettings
{
    public required bool Quick { get; init; }

    public int Nodes { get; init; } = 3;

    /// <summary>Idle connections per node at the first measurement of idle Redis load.</summary>
    public required int SmallPerNode { get; init; }

    /// <summary>Idle connections per node at the second one (and during the send and kill scenarios).</summary>
    public required int LargePerNode { get; init; }

    public required int ConnectionsPerClientProcess { get; init; }

    public int NodeCap { get; init; } = 19_000;

    /// <summary>How long Redis is watched with every connection held and nothing sent.</summary>
    public required TimeSpan IdleWindow { get; init; }

    /// <summary>The receiving user's connections on each node but the sender's (the pool's per-user limit is 10, cluster-wide).</summary>
    public int ReceiversPerNode { get; init; } = 5;

    /// <summary>Sends to the user whose bytes on each node's Redis connections are counted.</summary>
    public int BusBytesSends { get; init; } = 1_000;

    public int MessagesPerTrigger { get; init; } = 500;

    public required TimeSpan ThroughputDuration { get; init; }

    public required int ThroughputRepetitions { get; init; }

    /// <summary>One message at a time, each waited for on every receiver: latency without queueing.</summary>
    public required TimeSpan PacedDuration { get; init; }

    public int PacedMaxMessages { get; init; } = 20_000;

    public TimeSpan LeaseTtl { get; init; } = TimeSpan.FromSeconds(15);

    public TimeSpan KillPollInterval { get; init; } = TimeSpan.FromMilliseconds(50);

    public static ClusterSettings For(bool quick) => quick
        ? new ClusterSettings
        {
            Quick = true,
            SmallPerNode = 100,
            LargePerNode = 1_000,
            ConnectionsPerClientProcess = 1_000,
            IdleWindow = TimeSpan.FromSeconds(15),
            ThroughputDuration = TimeSpan.FromSeconds(5),
            ThroughputRepetitions = 1,
            PacedDuration = TimeSpan.FromSeconds(3),
        }
        : new ClusterSettings
        {
            Quick = false,
            SmallPerNode = 1_000,
            LargePerNode = 15_000,
            ConnectionsPerClientProcess = 9_000,
            IdleWindow = TimeSpan.FromSeconds(30),
            ThroughputDuration = TimeSpan.FromSeconds(15),
            ThroughputRepetitions = 3,
            PacedDuration = TimeSpan.FromSeconds(10),
        };
}

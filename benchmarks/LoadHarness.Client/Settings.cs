// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace LoadHarness.Client;

/// <summary>Sizes and durations of one suite run. Quick mode is for a smoke run of a couple of minutes; full mode is for publishing.</summary>
internal sealed record Settings
{
    public required bool Quick { get; init; }

    public required int Repetitions { get; init; }

    public required int IdleConnections { get; init; }

    public required int CapConnections { get; init; }

    public int ConnectionsPerClientProcess { get; init; } = 5_000;

    public int CapOverflowAttempts { get; init; } = 100;

    public required TimeSpan EchoDuration { get; init; }

    public TimeSpan EchoWarmUp { get; init; } = TimeSpan.FromSeconds(1);

    public int EchoConnections { get; init; } = 100;

    public required TimeSpan FanOutDuration { get; init; }

    public int FanOutMessagesPerTrigger { get; init; } = 500;

    public required int FanOutBackgroundConnections { get; init; }

    public int BroadcastConnections { get; init; } = 100;

    public int BroadcastMessagesPerTrigger { get; init; } = 100;

    public required TimeSpan ChurnDuration { get; init; }

    public int ChurnLoops { get; init; } = 8;

    public static Settings For(bool quick, int? repetitions) => quick
        ? new Settings
        {
            Quick = true,
            Repetitions = repetitions ?? 1,
            IdleConnections = 2_000,
            CapConnections = 4_000,
            EchoDuration = TimeSpan.FromSeconds(5),
            FanOutDuration = TimeSpan.FromSeconds(4),
            FanOutBackgroundConnections = 1_000,
            ChurnDuration = TimeSpan.FromSeconds(5),
        }
        : new Settings
        {
            Quick = false,
            Repetitions = repetitions ?? 3,
            IdleConnections = 10_000,
            CapConnections = 19_000,
            EchoDuration = TimeSpan.FromSeconds(15),
            FanOutDuration = TimeSpan.FromSeconds(10),
            FanOutBackgroundConnections = 5_000,
            ChurnDuration = TimeSpan.FromSeconds(15),
        };
}

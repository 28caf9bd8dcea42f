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

    /// <summary>
    /// The servers the cap scenario runs against. In full mode only the pool's (the one with a cap to hold and refuse
    /// beyond): bare Kestrel and SignalR holding 19,000 is shown by the growth curve, and leaving them out saves two
    /// ramps to 19,000 and their waits for a quiet machine per round.
    /// </summary>
    public string[] CapModes { get; init; } = ["bare", "signalr", "pool"];

    /// <summary>The WebSocket client of the suite's own connections (<see cref="LoadClients"/>); the hold workers keep <c>ClientWebSocket</c>.</summary>
    public string Client { get; init; } = LoadClients.Light;

    public required TimeSpan EchoDuration { get; init; }

    /// <summary>
    /// Gets how long the echo and fan-out scenarios run unmeasured before they are measured: long enough for the servers'
    /// tiered JIT to have compiled their hot paths fully (with one round or one second, part of the measured window ran
    /// unoptimized or instrumented code, which costs a server with more code on the path more).
    /// </summary>
    public TimeSpan WarmUp { get; init; } = TimeSpan.FromSeconds(3);

    public int EchoConnections { get; init; } = 100;

    public required TimeSpan FanOutDuration { get; init; }

    public int FanOutMessagesPerTrigger { get; init; } = 500;

    public required int FanOutBackgroundConnections { get; init; }

    public int BroadcastConnections { get; init; } = 100;

    public int BroadcastMessagesPerTrigger { get; init; } = 100;

    public required TimeSpan ChurnDuration { get; init; }

    public int ChurnLoops { get; init; } = 8;

    /// <summary>Before each scenario, wait until the 1-minute load average is below this; a figure taken at or above it is noisy.</summary>
    public double QuietThreshold { get; init; } = 0.5;

    /// <summary>The longest wait for <see cref="QuietThreshold"/> before each scenario (short in quick mode, so a busy machine does not stall it).</summary>
    public required TimeSpan QuietWait { get; init; }

    /// <summary>Open connections at which the growth curve measures memory, echo latency and connect time (one server process ramped through them).</summary>
    public required int[] GrowthSteps { get; init; }

    /// <summary>The servers the growth curve runs against.</summary>
    public string[] GrowthModes { get; init; } = ["bare", "signalr", "pool"];

    /// <summary>The growth curve runs in the first this-many rounds (each time in a fresh server process per mode).</summary>
    public int GrowthRounds { get; init; } = 1;

    /// <summary>The pool's cap in the growth curve's server: the top step plus the echoing clients must fit, and stay below the 20,000 open files.</summary>
    public required int GrowthCap { get; init; }

    public int GrowthEchoConnections { get; init; } = 10;

    public required TimeSpan GrowthEchoDuration { get; init; }

    /// <summary>Idle connections open during the broadcast-during-churn scenario; every broadcast goes to all of them.</summary>
    public required int BroadcastChurnConnections { get; init; }

    /// <summary>How long the churn runs without a broadcast, and then again with broadcasts going on.</summary>
    public required TimeSpan BroadcastChurnDuration { get; init; }

    public int BroadcastChurnLoops { get; init; } = 4;

    public int BroadcastChurnMessagesPerTrigger { get; init; } = 1;

    /// <summary>
    /// A broadcast starts this often during the churn (the next waits for the previous one to finish, so a server that
    /// cannot keep up broadcasts back to back). Paced, so every server is given the same work per second.
    /// </summary>
    public TimeSpan BroadcastChurnInterval { get; init; } = TimeSpan.FromMilliseconds(250);

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
            QuietWait = TimeSpan.FromSeconds(2),
            GrowthSteps = [500, 1_000, 2_000, 3_000],
            GrowthCap = 4_000,
            GrowthEchoDuration = TimeSpan.FromSeconds(2),
            BroadcastChurnConnections = 2_000,
            BroadcastChurnDuration = TimeSpan.FromSeconds(4),
        }
        : new Settings
        {
            Quick = false,
            Repetitions = repetitions ?? 3,
            IdleConnections = 10_000,
            CapConnections = 19_000,
            EchoDuration = TimeSpan.FromSeconds(8),
            FanOutDuration = TimeSpan.FromSeconds(5),
            FanOutBackgroundConnections = 5_000,
            ChurnDuration = TimeSpan.FromSeconds(8),
            QuietWait = TimeSpan.FromSeconds(90),
            GrowthSteps = [1_000, 5_000, 10_000, 19_000],
            GrowthCap = 19_400,
            GrowthEchoDuration = TimeSpan.FromSeconds(5),
            BroadcastChurnConnections = 10_000,
            BroadcastChurnDuration = TimeSpan.FromSeconds(6),
            CapModes = ["pool"],
        };
}

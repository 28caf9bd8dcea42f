// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace LoadHarness.Client;

/// <summary>
/// The runtime setting under which every server of the suite runs, and the client too (<c>benchmarks/run.sh</c>): tiered
/// compilation counts calls for tier-up from the start (<c>DOTNET_TC_CallCountingDelayMs=0</c>). By default it waits for
/// 100 ms without new JIT work, and a server under load that still compiles rare paths now and then can go on running
/// its hot path unoptimized or instrumented for many seconds: a profile of the pool's send-to-user scenario, taken from
/// the fourth to the seventh second of its run, found 30 % of the server's samples in quick-JIT or instrumented code and
/// under 2 % in fully optimized code. Production servers run for hours, so the figures are meant for the steady state.
/// </summary>
internal static class SteadyStateJit
{
    public const string Variable = "DOTNET_TC_CallCountingDelayMs";

    public const string Value = "0";
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.IntegrationTests.Reliability;

/// <summary>
/// How hard the reliability tests push. The default keeps the run short enough for CI on two cores; setting the
/// environment variable <c>WSP_LONG_TESTS=1</c> runs the same tests with ten times the rounds and load.
/// </summary>
internal static class ReliabilitySettings
{
    public static bool Long { get; } = Environment.GetEnvironmentVariable("WSP_LONG_TESTS") is "1" or "true";

    /// <summary>Rounds of a scenario over which nothing may grow.</summary>
    public static int Rounds => Long ? 100 : 10;

    /// <summary>Multiplies the size of load scenarios (connections, users, messages).</summary>
    public static int Scale => Long ? 10 : 1;
}

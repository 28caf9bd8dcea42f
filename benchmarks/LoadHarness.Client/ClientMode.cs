// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace LoadHarness.Client;

/// <summary>How the client speaks to a server mode: raw WebSocket messages, or SignalR's JSON hub protocol.</summary>
internal static class ClientMode
{
    public static readonly string[] All = ["bare", "barequeued", "signalr", "pool"];

    /// <summary>
    /// The fair fan-out baseline (bare Kestrel with a writer and a queue per connection) runs only the scenarios where how
    /// a server sends makes the difference; the idle, churn and cap figures stay bare Kestrel's.
    /// </summary>
    public static readonly string[] BareQueuedScenarios = ["echo", "sendToUser", "sendToUserAmongOthers", "broadcast", "broadcastChurn"];

    public static bool Runs(string mode, string scenario) => mode != "barequeued" || BareQueuedScenarios.Contains(scenario);

    public static bool IsSignalR(string mode) => mode == "signalr";

    public static string PathOf(string mode) => IsSignalR(mode) ? "/hub" : "/ws";
}

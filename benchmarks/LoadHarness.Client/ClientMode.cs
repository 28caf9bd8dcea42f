// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace LoadHarness.Client;

/// <summary>How the client speaks to a server mode: raw WebSocket messages, or SignalR's JSON hub protocol.</summary>
internal static class ClientMode
{
    public static readonly string[] All = ["bare", "signalr", "pool"];

    public static bool IsSignalR(string mode) => mode == "signalr";

    public static string PathOf(string mode) => IsSignalR(mode) ? "/hub" : "/ws";
}

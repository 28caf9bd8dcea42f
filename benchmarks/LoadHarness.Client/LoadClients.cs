// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace LoadHarness.Client;

/// <summary>The WebSocket client implementations the suite's own connections can use (<c>--client</c>).</summary>
internal static class LoadClients
{
    /// <summary><see cref="LightWebSocket"/>, the default: light enough that one client core can drive one server core.</summary>
    public const string Light = "light";

    /// <summary><see cref="System.Net.WebSockets.ClientWebSocket"/>, the client the harness first used.</summary>
    public const string ClientWebSocket = "clientwebsocket";

    public static readonly string[] All = [Light, ClientWebSocket];
}

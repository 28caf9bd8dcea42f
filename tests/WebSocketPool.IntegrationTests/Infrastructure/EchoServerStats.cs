// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.Http.Json;
using System.Text.Json;

namespace WebSocketPool.IntegrationTests.Infrastructure;

/// <summary>Reads the EchoServer sample's <c>/stats</c> from a server run as a child process.</summary>
internal static class EchoServerStats
{
    /// <summary>Reads <c>/stats</c>; <see langword="null"/> when the server does not answer within <paramref name="timeout"/>.</summary>
    public static async Task<JsonElement?> TryGetStatsAsync(this ServerProcess server, TimeSpan timeout)
    {
        try
        {
            using var http = new HttpClient { Timeout = timeout };
            return await http.GetFromJsonAsync<JsonElement>(new Uri(server.BaseUri, "/stats"));
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// Reads <c>/stats</c> until it shows no active connection (every lease released) or <paramref name="deadline"/>
    /// passes; a server that does not answer meanwhile counts as not yet released.
    /// </summary>
    /// <returns>Whether the server reported no active connection in time.</returns>
    public static async Task<bool> WaitForNoConnectionsAsync(this ServerProcess server, TimeSpan deadline)
    {
        try
        {
            await Conditions.WaitAsync(
                async () => await server.TryGetStatsAsync(TimeSpan.FromSeconds(5)) is { } stats && stats.GetProperty("activeConnections").GetInt32() == 0,
                deadline, "the server reports no active connection");
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }
}

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
}

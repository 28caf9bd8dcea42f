// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;

namespace WebSocketPool.IntegrationTests.Infrastructure;

/// <summary>
/// Sends a WebSocket upgrade request through a plain <see cref="HttpClient"/>, so that a refusal's status, headers and
/// problem body can be read (a <c>ClientWebSocket</c> only reports the status), and checks such a refusal.
/// </summary>
internal static class UpgradeProbe
{
    public static Uri PoolUri(Uri baseUri, string? user = null) =>
        new UriBuilder(baseUri) { Path = "/ws", Query = user is null ? string.Empty : "user=" + Uri.EscapeDataString(user) }.Uri;

    /// <summary>Sends an upgrade request to <paramref name="uri"/>; <paramref name="headers"/> adds e.g. Origin or the test user.</summary>
    public static async Task<HttpResponseMessage> SendAsync(HttpClient http, Uri uri, params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        request.Headers.Connection.Add("Upgrade");
        request.Headers.Upgrade.Add(new ProductHeaderValue("websocket"));
        request.Headers.Add("Sec-WebSocket-Key", Convert.ToBase64String(RandomNumberGenerator.GetBytes(16)));
        request.Headers.Add("Sec-WebSocket-Version", "13");
        foreach (var (name, value) in headers)
        {
            request.Headers.Add(name, value);
        }

        return await http.SendAsync(request);
    }

    /// <summary>
    /// Asserts a refusal: <paramref name="status"/>, <c>Connection: close</c>, and a problem+json body whose <c>status</c>
    /// matches, whose <c>reason</c> is <paramref name="reason"/> and whose <c>type</c> ends with it.
    /// </summary>
    /// <returns>The problem body.</returns>
    public static async Task<JsonElement> AssertRefusedAsync(HttpResponseMessage response, HttpStatusCode status, string reason)
    {
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.Should().Be(status, "the refusal is decided by '{0}' ({1})", reason, text);
        response.Headers.ConnectionClose.Should().BeTrue("a refusal closes the connection");
        response.Content.Headers.ContentType!.MediaType.Should().Be("application/problem+json");
        using var json = JsonDocument.Parse(text);
        var body = json.RootElement.Clone();
        body.GetProperty("status").GetInt32().Should().Be((int)status);
        body.GetProperty("reason").GetString().Should().Be(reason);
        body.GetProperty("type").GetString().Should().EndWith(reason);
        return body;
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Globalization;
using System.Text.Json;
using WebSocketPool.TestSupport;

namespace WebSocketPool.Soak;

/// <summary>
/// A handshake the server answered with something other than 101, read down to its problem body, and judged: the only
/// refusals a soak run expects are 429 <c>user_limit</c> / <c>rate_limited</c> and 503 <c>global_limit</c>, each with
/// an <c>application/problem+json</c> body whose <c>status</c> matches the response and whose <c>type</c> ends with
/// its <c>reason</c>. Anything else (a 500, a 503 <c>draining</c> while the server is not stopping, a 401/403, a
/// plain-text body) is a failed handshake.
/// </summary>
internal sealed record HandshakeRefusal(int Status, string? Reason, bool IsExpected, string Description)
{
    private static readonly TimeSpan s_bodyDeadline = TimeSpan.FromSeconds(30);

    /// <summary>The counter key of an expected refusal, e.g. <c>429_user_limit</c>.</summary>
    public string Key => Status.ToString(CultureInfo.InvariantCulture) + "_" + (Reason ?? "unknown");

    public static async Task<HandshakeRefusal> ReadAsync(RawWebSocketClient client, int status)
    {
        var contentType = client.HandshakeResponse.Split("\r\n")
            .Where(line => line.StartsWith("Content-Type:", StringComparison.OrdinalIgnoreCase))
            .Select(line => line["Content-Type:".Length..].Trim())
            .FirstOrDefault() ?? "no content type";
        string body;
        try
        {
            using var cts = new CancellationTokenSource(s_bodyDeadline);
            body = await client.ReadHandshakeBodyAsync(cts.Token);
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or OperationCanceledException or FormatException or InvalidDataException)
        {
            return new HandshakeRefusal(status, null, false, $"{status} ({contentType}), body unreadable: {ex.GetType().Name}");
        }

        return Judge(status, contentType, body);
    }

    public static HandshakeRefusal Judge(int status, string contentType, string body)
    {
        var described = $"{status} ({contentType})";
        if (!contentType.StartsWith("application/problem+json", StringComparison.OrdinalIgnoreCase))
        {
            return new HandshakeRefusal(status, null, false, $"{described}: not a problem+json body");
        }

        string? reason;
        try
        {
            using var json = JsonDocument.Parse(body);
            var root = json.RootElement;
            reason = root.TryGetProperty("reason", out var r) ? r.GetString() : null;
            var type = root.TryGetProperty("type", out var t) ? t.GetString() : null;
            var bodyStatus = root.TryGetProperty("status", out var s) && s.TryGetInt32(out var parsed) ? parsed : 0;
            if (reason is null || type is null || !type.EndsWith(reason, StringComparison.Ordinal) || bodyStatus != status)
            {
                return new HandshakeRefusal(status, reason, false, $"{described}: problem body without a matching reason/type/status");
            }
        }
        catch (JsonException)
        {
            return new HandshakeRefusal(status, null, false, $"{described}: problem body is not JSON");
        }

        var expected = (status, reason) is (429, "user_limit") or (429, "rate_limited") or (503, "global_limit");
        return new HandshakeRefusal(status, reason, expected, expected ? described : $"{described}: reason '{reason}' is not expected during a soak");
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;

namespace WebSocketPool.Client.Internal;

/// <summary>A refusal before the upgrade: its status and, where the server said, its reason, counts and <c>Retry-After</c>.</summary>
internal sealed record Refusal(int StatusCode, string? Reason, int? Limit, int? Current, TimeSpan? RetryAfter, string? Detail, bool FromPreview)
{
    public WebSocketPoolCloseClass CloseClass => ClosePolicy.ClassifyRefusal(StatusCode);

    public string Describe() =>
        $"refused with {StatusCode.ToString(CultureInfo.InvariantCulture)}" + (Reason is null ? string.Empty : $" ({Reason})")
        + (RetryAfter is { } wait ? $", Retry-After {wait.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s" : string.Empty);

    /// <summary>
    /// Reads <c>Retry-After</c>: delay-seconds, or an HTTP date turned into a delay from <paramref name="now"/> (a date in
    /// the past is no wait). Anything else is ignored, as if it were absent.
    /// </summary>
    public static TimeSpan? ParseRetryAfter(string? value, DateTimeOffset now)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        value = value.Trim();
        if (long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
        {
            return TimeSpan.FromSeconds(Math.Min(seconds, (long)TimeSpan.FromDays(1).TotalSeconds));
        }

        if (DateTimeOffset.TryParseExact(value, "r", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var date))
        {
            var wait = date - now;
            return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
        }

        return null;
    }

    /// <summary>Reads <c>Retry-After</c> from response headers.</summary>
    public static TimeSpan? ReadRetryAfter(HttpResponseHeaders headers, DateTimeOffset now)
    {
        if (headers.RetryAfter is { } retryAfter)
        {
            if (retryAfter.Delta is { } delta)
            {
                return delta;
            }

            if (retryAfter.Date is { } date)
            {
                var wait = date - now;
                return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
            }
        }

        return null;
    }

    /// <summary>Reads a problem+json body's <c>reason</c>, <c>limit</c>, <c>current</c> and <c>detail</c>; a body that is not JSON gives none of them.</summary>
    public static Refusal FromProblem(int statusCode, ReadOnlySpan<byte> body, TimeSpan? retryAfter, bool fromPreview)
    {
        string? reason = null;
        string? detail = null;
        int? limit = null;
        int? current = null;
        try
        {
            var reader = new Utf8JsonReader(body);
            if (JsonDocument.TryParseValue(ref reader, out var document))
            {
                using (document)
                {
                    if (document.RootElement.ValueKind == JsonValueKind.Object)
                    {
                        var root = document.RootElement;
                        reason = String(root, "reason");
                        detail = String(root, "detail");
                        limit = Int(root, "limit");
                        current = Int(root, "current");
                    }
                }
            }
        }
        catch (JsonException)
        {
            // Not a problem body (a proxy's page, say): the status alone decides.
        }

        return new Refusal(statusCode, reason, limit, current, retryAfter, detail, fromPreview);
    }

    private static string? String(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static int? Int(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var number) ? number : null;
}

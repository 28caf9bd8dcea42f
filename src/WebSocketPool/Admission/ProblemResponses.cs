// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace WebSocketPool.Internal;

/// <summary>Writes refusals as problem+json with <c>Connection: close</c> and, where retrying makes sense, <c>Retry-After</c>.</summary>
internal static class ProblemResponses
{
    private const string TypePrefix = "urn:websocketpool:problem:";

    /// <param name="context">The request.</param>
    /// <param name="admission">The refusal.</param>
    /// <param name="detail">A detail that says more than the reason's standard one (which Origin, which claim), or <see langword="null"/>.</param>
    public static Task WriteRejectionAsync(HttpContext context, in WebSocketAdmission admission, string? detail = null)
    {
        var reason = admission.RejectionReason!;
        var (title, standardDetail) = reason switch
        {
            RejectionReasons.Draining => ("Server shutting down", "The server is draining for shutdown and accepts no new WebSockets; retry later or elsewhere."),
            RejectionReasons.Origin => ("Origin not allowed", "The request's Origin is not allowed to open WebSockets here."),
            RejectionReasons.Unauthenticated => ("Authentication required", "A WebSocket needs an authenticated user."),
            RejectionReasons.SubProtocol => ("WebSocket subprotocol not supported", "None of the WebSocket subprotocols offered is spoken here."),
            RejectionReasons.RateLimited => ("Too many connection attempts", $"Too many connection attempts; retry after {Seconds(admission.RetryAfter)} s."),
            RejectionReasons.IPRateLimited => ("Too many connection attempts from this address",
                $"Too many connection attempts from your network address; retry after {Seconds(admission.RetryAfter)} s."),
            RejectionReasons.IPLimit => ("Too many connections from this address",
                $"Your network address has {admission.Current} of {admission.Limit} allowed connections open."),
            RejectionReasons.GlobalLimit => ("Server at capacity", $"The server holds its maximum of {admission.Limit} connections."),
            RejectionReasons.ClusterUnavailable => ("Cluster unavailable", "The cluster's shared connection registry cannot be reached; retry later."),
            _ => ("Too many connections", $"You have {admission.Current} of {admission.Limit} allowed connections open."),
        };

        var extensions = new Dictionary<string, object?>(StringComparer.Ordinal) { ["reason"] = reason };
        if (reason is RejectionReasons.UserLimit or RejectionReasons.GlobalLimit or RejectionReasons.RateLimited
            or RejectionReasons.IPLimit or RejectionReasons.IPRateLimited)
        {
            extensions["limit"] = admission.Limit;
            extensions["current"] = admission.Current;
        }

        return WriteAsync(context, admission.StatusCode, reason, title, detail ?? standardDetail, admission.RetryAfter, extensions);
    }

    public static Task WriteAsync(HttpContext context, int status, string type, string title, string detail, TimeSpan? retryAfter,
        IDictionary<string, object?>? extensions = null)
    {
        WebSocketPoolTracing.Refused(type, status);
        var response = context.Response;
        response.Headers[HeaderNames.Connection] = "close";
        if (retryAfter is { } wait)
        {
            response.Headers[HeaderNames.RetryAfter] = Seconds(wait).ToString(CultureInfo.InvariantCulture);
        }

        response.Headers[HeaderNames.CacheControl] = "no-store";
        return TypedResults.Problem(detail, instance: null, statusCode: status, title: title, type: TypePrefix + type, extensions: extensions)
            .ExecuteAsync(context);
    }

    private static long Seconds(TimeSpan? wait) => Math.Max(1, (long)Math.Ceiling((wait ?? TimeSpan.Zero).TotalSeconds));
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using Microsoft.AspNetCore.Http;

namespace WebSocketPool.Internal;

/// <summary>
/// The pool's spans, on the <see cref="ActivitySource"/> <c>WebSocketPool</c> (versioned like the assembly). Each
/// upgrade attempt gets a short span <c>websocketpool.upgrade</c>, a child of the request's activity: the decision
/// (<c>admitted</c>, <c>refused</c>, <c>aborted</c>, <c>failed</c>), the refusal reason, the pool, the status code and,
/// once admitted, the connection id. Each accepted connection's end gets a span <c>websocketpool.connection.end</c>: the
/// upgrade span has long been stopped (and exported) by then, so the end is its own short span, a child of the request's
/// activity (which lasts as long as the connection) and linked to the upgrade span, tagged with how the connection ended,
/// the close code and how long it lasted. The user key is never a tag unless the app opts in with
/// <see cref="WebSocketPoolOptions.TraceUserKey"/>.
/// </summary>
internal sealed class WebSocketPoolTracing
{
    public const string UpgradeSpanName = "websocketpool.upgrade";
    public const string ConnectionEndSpanName = "websocketpool.connection.end";
    public const string PoolTag = "websocketpool.pool";
    public const string DecisionTag = "websocketpool.admission.decision";
    public const string ReasonTag = WebSocketPoolMetrics.ReasonTag;
    public const string DisconnectReasonTag = WebSocketPoolMetrics.DisconnectReasonTag;
    public const string ConnectionIdTag = "websocketpool.connection.id";
    public const string CloseCodeTag = "websocketpool.close_code";
    public const string DurationTag = "websocketpool.connection.duration";
    public const string StatusCodeTag = "http.response.status_code";
    public const string UserTag = "enduser.id";
    public const string AdmittedDecision = "admitted";
    public const string RefusedDecision = "refused";
    public const string AbortedDecision = "aborted";
    public const string FailedDecision = "failed";

    private static readonly ActivitySource s_source = new(
        WebSocketPoolTelemetry.ActivitySourceName, typeof(WebSocketPoolTracing).Assembly.GetName().Version?.ToString());

    public WebSocketPoolTracing(WebSocketPoolOptions options, string poolName)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(poolName);
        TraceUserKey = options.TraceUserKey;
        PoolName = poolName;
    }

    public bool TraceUserKey { get; }

    public string PoolName { get; }

    /// <summary>
    /// Starts the span of an upgrade attempt; a default (inert) span when nobody listens, this is no upgrade, or a
    /// listener threw (tracing never costs a request its answer).
    /// </summary>
    public UpgradeSpan StartUpgrade(HttpContext context, bool isUpgrade)
    {
        if (!isUpgrade || !s_source.HasListeners())
        {
            return default;
        }

        Activity? activity;
        try
        {
            activity = s_source.StartActivity(UpgradeSpanName, ActivityKind.Internal);
        }
#pragma warning disable CA1031 // A listener's failure must not cost the request its answer.
        catch (Exception)
#pragma warning restore CA1031
        {
            return default;
        }

        if (activity is null)
        {
            return default;
        }

        activity.SetTag(PoolTag, PoolName);
        return new UpgradeSpan(activity, context, this);
    }

    /// <summary>
    /// Tags the refusal being written on the current upgrade span, if the current activity is one (a preview's refusal
    /// is written outside any upgrade span and tags nothing).
    /// </summary>
    public static void Refused(string reason, int statusCode) => SafeDiagnostics.Run(static (reason, statusCode) =>
    {
        if (Activity.Current is { Source: var source, IsStopped: false } activity && ReferenceEquals(source, s_source)
            && activity.OperationName == UpgradeSpanName)
        {
            activity.SetTag(DecisionTag, RefusedDecision);
            activity.SetTag(ReasonTag, reason);
            activity.SetTag(StatusCodeTag, statusCode);
        }
    }, reason, statusCode);

    /// <summary>
    /// Records an accepted connection's end as a short span linked to its upgrade span, for connections whose upgrade
    /// was traced (the request keeps an <see cref="UpgradeTraceFeature"/>); nothing otherwise, as with any unsampled trace.
    /// </summary>
    public static void ConnectionEnded(WebSocketConnection connection, WebSocketDisconnect disconnect, TimeSpan duration)
    {
        if (!s_source.HasListeners() || connection.GetHttpContext()?.Features.Get<UpgradeTraceFeature>() is not { } upgrade)
        {
            return;
        }

        using var activity = s_source.StartActivity(ConnectionEndSpanName, ActivityKind.Internal, parentContext: default,
            tags: null, links: [new ActivityLink(upgrade.Upgrade)]);
        if (activity is not { IsAllDataRequested: true })
        {
            return;
        }

        activity.SetTag(PoolTag, upgrade.PoolName);
        activity.SetTag(ConnectionIdTag, connection.ConnectionId);
        activity.SetTag(DisconnectReasonTag, WebSocketPoolMetrics.DisconnectReasonName(disconnect.Reason));
        activity.SetTag(CloseCodeTag, disconnect.CloseCode);
        activity.SetTag(DurationTag, duration.TotalSeconds);
    }
}

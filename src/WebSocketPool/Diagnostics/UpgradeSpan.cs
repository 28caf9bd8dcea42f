// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using Microsoft.AspNetCore.Http;

namespace WebSocketPool.Internal;

/// <summary>
/// The span of one upgrade attempt, from the middleware's first check to the refusal or the accepted handshake. It is
/// short on purpose: it stops when the socket is accepted (<see cref="Admitted"/>), not when the connection ends, so a
/// trace shows the decision at once. A refusal tags it where the refusal is written
/// (<see cref="WebSocketPoolTracing.Refused"/>); <see cref="Dispose"/> closes whatever is left (a failed handshake, a
/// client that went away). A default instance (nobody listening) does nothing.
/// </summary>
internal readonly struct UpgradeSpan : IDisposable
{
    private readonly Activity? _activity;
    private readonly HttpContext? _context;
    private readonly WebSocketPoolTracing? _tracing;

    public UpgradeSpan(Activity activity, HttpContext context, WebSocketPoolTracing tracing)
    {
        _activity = activity;
        _context = context;
        _tracing = tracing;
    }

    /// <summary>Tags the user key, only if the app opted in (<see cref="WebSocketPoolOptions.TraceUserKey"/>).</summary>
    public void Identify(string userKey)
    {
        if (_activity is { IsAllDataRequested: true } activity && _tracing!.TraceUserKey)
        {
            activity.SetTag(WebSocketPoolTracing.UserTag, userKey);
        }
    }

    /// <summary>
    /// The socket was accepted: tags the decision and the connection, leaves a link for the end span, and stops. Called
    /// between the accept and the connection's run, where nothing may throw (the run is what releases the slot), so a
    /// listener's failure is swallowed here.
    /// </summary>
    public void Admitted(string connectionId)
    {
        if (_activity is not { } activity)
        {
            return;
        }

        SafeDiagnostics.Run(static (self, state) =>
        {
            var (activity, connectionId) = state;
            activity.SetTag(WebSocketPoolTracing.DecisionTag, WebSocketPoolTracing.AdmittedDecision);
            activity.SetTag(WebSocketPoolTracing.ConnectionIdTag, connectionId);
            activity.SetTag(WebSocketPoolTracing.StatusCodeTag, self._context!.Response.StatusCode);
            self._context.Features.Set(new UpgradeTraceFeature(activity.Context, self._tracing!.PoolName));
            activity.Stop();
        }, this, (activity, connectionId));
    }

    public void Dispose() => SafeDiagnostics.Run(static (self, _) => self.Finish(), this, 0);

    private void Finish()
    {
        if (_activity is not { IsStopped: false } activity)
        {
            return;
        }

        if (activity.GetTagItem(WebSocketPoolTracing.DecisionTag) is null)
        {
            // Neither admitted nor refused: the client left while the gate decided, or the handshake (or the gate) failed.
            var aborted = _context!.RequestAborted.IsCancellationRequested;
            activity.SetTag(WebSocketPoolTracing.DecisionTag, aborted ? WebSocketPoolTracing.AbortedDecision : WebSocketPoolTracing.FailedDecision);
            if (!aborted)
            {
                activity.SetStatus(ActivityStatusCode.Error);
            }
        }

        if (_context!.Response.HasStarted || activity.GetTagItem(WebSocketPoolTracing.StatusCodeTag) is null)
        {
            activity.SetTag(WebSocketPoolTracing.StatusCodeTag, _context.Response.StatusCode);
        }

        activity.Stop();
    }
}

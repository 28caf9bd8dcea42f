// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;

namespace WebSocketPool.Internal;

/// <summary>
/// Serves a pool: as middleware on the pool's path (<c>UseWebSocketPooling()</c>), or as the request delegate of the
/// pool's endpoint (<c>MapWebSocketPool</c>), where routing has matched the path and endpoint authorization has run.
/// Every limit is decided on the HTTP request, before <c>AcceptWebSocketAsync</c>, in the order
/// draining, origin, user, subprotocol, per-IP connect rate, per-IP cap, per-user connect rate, global cap, per-user cap (the client
/// address is <c>Connection.RemoteIpAddress</c>, so behind a proxy <c>UseForwardedHeaders</c> must come first). A plain GET (no upgrade) answers with the decision an
/// upgrade would get now, reserving nothing, because browsers cannot see why a handshake was refused.
/// </summary>
internal sealed partial class WebSocketPoolingMiddleware
{
    private const int MaxUserKeyLength = 256;

    private readonly RequestDelegate _next;
    private readonly PooledWebSocketManagerFactory _factory;
    private readonly IUserKeyResolver _resolver;
    private readonly WebSocketHandler _handler;
    private readonly WebSocketPoolOptions _options;
    private readonly ILogger _logger;
    private readonly PathString? _path;
    private readonly OriginPolicy _origins;
    private readonly SubProtocolSelector _subProtocols;
    private readonly IWebSocketAdmissionGate? _gate;
    private readonly WebSocketPoolTracing _tracing;
    private readonly ResumeTokens? _resumeTokens;
    private readonly bool _authenticationRegistered;
    private int _authenticationNotRunLogged;

    /// <summary>Serves <paramref name="pool"/>; on <paramref name="path"/> only, as middleware, or every request, as an endpoint.</summary>
    public WebSocketPoolingMiddleware(RequestDelegate next, WebSocketPoolInstance pool, PathString? path, IServiceProvider services)
    {
        _next = next;
        _tracing = new WebSocketPoolTracing(pool.Options, pool.Name);
        _factory = pool.Factory;
        _resolver = pool.Resolver;
        _handler = pool.Handler!;
        _options = pool.Options;
        _logger = (ILogger?)services.GetService(typeof(ILogger<WebSocketPoolingMiddleware>)) ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        _path = path;
        _origins = new OriginPolicy(_options.AllowedOrigins);
        _subProtocols = new SubProtocolSelector(_options);
        _authenticationRegistered = services.GetService(typeof(IAuthenticationSchemeProvider)) is not null;
        _gate = pool.Gate;
        if (_options.Resume.Enabled)
        {
            _resumeTokens = new ResumeTokens(
                (IDataProtectionProvider?)services.GetService(typeof(IDataProtectionProvider))
                    ?? throw new InvalidOperationException("Resume needs ASP.NET Core Data Protection; AddWebSocketPooling registers it."),
                pool.Name);
        }
    }

    public Task InvokeAsync(HttpContext context)
    {
        if (_path is { } path && !context.Request.Path.Equals(path, StringComparison.OrdinalIgnoreCase))
        {
            return _next(context);
        }

        var isUpgrade = context.WebSockets.IsWebSocketRequest;
        if (!isUpgrade && !HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method))
        {
            return _next(context);
        }

        // The checks and the handshake run in a method of their own, which is done with once the socket is accepted: what
        // stays alive for the connection's life is the run and the small frame waiting for it, not the checks' locals.
        var accepting = AdmitAndAcceptAsync(context, isUpgrade);
        return accepting.IsCompletedSuccessfully ? Run(context, accepting.Result) : RunOnceAcceptedAsync(context, accepting);
    }

    private async Task RunOnceAcceptedAsync(HttpContext context, Task<AcceptedConnection> accepting)
    {
        var accepted = await accepting.ConfigureAwait(false);
        await Run(context, accepted).ConfigureAwait(false);
    }

    /// <summary>
    /// From here the run owns the lease: it commits the admission (an eviction happens only now that the newcomer is
    /// certain), and every way out of it releases the slot. Nothing to run when the request was answered otherwise.
    /// </summary>
    private Task Run(HttpContext context, AcceptedConnection accepted) => accepted.Manager is { } manager
        ? manager.RunAsync(accepted.Socket!, _handler, context.RequestAborted, accepted.AuthenticationExpiresAt, context, accepted.Resume)
        : Task.CompletedTask;

    /// <summary>
    /// Every check of DESIGN.md's order, then the handshake; a refusal, a preview or a resume is answered here in full.
    /// </summary>
    /// <returns>The accepted connection to run, or <see langword="default"/> when the request has been answered.</returns>
    private async Task<AcceptedConnection> AdmitAndAcceptAsync(HttpContext context, bool isUpgrade)
    {
        // An upgrade attempt's span (Diagnostics/WebSocketPoolTracing): refusals tag it where they are written, and it
        // stops once the socket is accepted, before the connection runs.
        using var span = _tracing.StartUpgrade(context, isUpgrade);
        if (_factory.IsDraining)
        {
            await RefuseAsync(context, RejectionReasons.Draining, _factory.DrainingRetryAfter).ConfigureAwait(false);
            return default;
        }

        if (!_origins.IsAllowed(context.Request))
        {
            await RefuseAsync(context, RejectionReasons.Origin, null, OriginDetail(context)).ConfigureAwait(false);
            return default;
        }

        WarnIfAuthenticationHasNotRun(context);
        var userKey = await _resolver.ResolveUserKeyAsync(context).ConfigureAwait(false);
        if (string.IsNullOrEmpty(userKey))
        {
            await RefuseAsync(context, RejectionReasons.Unauthenticated, null, UnauthenticatedDetail(context)).ConfigureAwait(false);
            return default;
        }

        span.Identify(userKey);
        if (userKey.Length > MaxUserKeyLength)
        {
            await ProblemResponses.WriteAsync(context, StatusCodes.Status400BadRequest, "invalid_user", "Invalid user key",
                $"The user key is longer than {MaxUserKeyLength} characters.", null).ConfigureAwait(false);
            return default;
        }

        var authenticationExpiresAt = AuthenticationExpiry(context);
        if (HasExpired(authenticationExpiresAt))
        {
            await RefuseAsync(context, RejectionReasons.Unauthenticated, null,
                "The request's authentication has expired; sign in again (or get a fresh token), then connect.").ConfigureAwait(false);
            return default;
        }

        // A request this pool cannot answer (subprotocols it does not speak): 400 before any token or slot is taken.
        if (!_subProtocols.TrySelect(context.Request, isUpgrade, out var subProtocol, out var subProtocolRefusal))
        {
            await RefuseAsync(context, RejectionReasons.SubProtocol, null, subProtocolRefusal).ConfigureAwait(false);
            return default;
        }

        if (!isUpgrade)
        {
            await PreviewAsync(context, userKey).ConfigureAwait(false);
            return default;
        }

        // A resume takes its held session (and the slot it still holds) before any cap is checked.
        if (TryGetResumeToken(context, subProtocol, out var resumeToken))
        {
            await ResumeAsync(context, userKey, subProtocol!, resumeToken).ConfigureAwait(false);
            return default;
        }

        var admission = _factory.TryAdmit(userKey, ClientAddress.Of(context));
        if (!admission.IsAdmitted)
        {
            await ProblemResponses.WriteRejectionAsync(context, admission).ConfigureAwait(false);
            return default;
        }

        if (_gate is not null && !await PassGateAsync(context, userKey, admission).ConfigureAwait(false))
        {
            return default;
        }

        if (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away while the gate decided: nothing to upgrade, and no one is evicted for it.
            _factory.Abandon(admission);
            return default;
        }

        WebSocket socket;
        try
        {
            socket = await context.WebSockets.AcceptWebSocketAsync(PoolAcceptContext.Create(_options, subProtocol)).ConfigureAwait(false);
        }
        catch
        {
            // The handshake failed after the slot was reserved: the slot goes back before anything else happens.
            _factory.Abandon(admission);
            throw;
        }

        var connectionId = admission.Manager!.GetConnectionId();
        span.Admitted(connectionId);

        // A client that selected the resume protocol gets sequenced messages and a token (docs/resume-protocol.md).
        var resume = _resumeTokens is not null && ResumeProtocol.IsResume(subProtocol)
            ? new ResumeSession(_resumeTokens.Issue(userKey, connectionId, out var secret), secret, _options.Resume.BufferBytes)
            : null;

        return new AcceptedConnection(admission.Manager, socket, authenticationExpiresAt, resume);
    }

    /// <summary>
    /// Asks the admission gate about a connection the node admitted. On a refusal (or a failure) the reserved slot goes
    /// back and the refusal is answered like the node's own; true when the upgrade may go ahead.
    /// </summary>
    private async Task<bool> PassGateAsync(HttpContext context, string userKey, WebSocketAdmission admission)
    {
        WebSocketGateDecision decision;
        try
        {
            // Under EvictOldest at the node's own limit the node has pledged a victim: the gate hands that victim's place
            // over rather than choosing one of its own, so one newcomer never costs two connections.
            var manager = admission.Manager!;
            decision = manager.PledgeVictimConnectionId is { } replaced
                ? await _gate!.AdmitReplacingAsync(userKey, manager.GetConnectionId(), replaced, context.RequestAborted).ConfigureAwait(false)
                : await _gate!.AdmitAsync(userKey, manager.GetConnectionId(), context.RequestAborted).ConfigureAwait(false);
        }
        catch
        {
            _factory.Abandon(admission);
            throw;
        }

        if (decision.IsAdmitted)
        {
            // A victim the gate named is evicted once this connection's socket has been accepted, not before.
            admission.Manager!.GateVictim = decision.EvictConnectionId;
            return true;
        }

        _factory.Abandon(admission);
        var reason = decision.RejectionReason!;
        _factory.RecordRejection(reason);
        SafeDiagnostics.Run(static (l, r) => Log.GateRefused(l, r), _logger, reason);
        await ProblemResponses.WriteRejectionAsync(context, ToAdmission(decision, admission.Limit)).ConfigureAwait(false);
        return false;
    }

    private async Task PreviewAsync(HttpContext context, string userKey)
    {
        var preview = _factory.Preview(userKey, ClientAddress.Of(context));
        if (!preview.IsAdmitted)
        {
            await ProblemResponses.WriteRejectionAsync(context, preview).ConfigureAwait(false);
            return;
        }

        var current = preview.Current;
        if (_gate is not null)
        {
            var decision = await _gate.PreviewAsync(userKey, context.RequestAborted).ConfigureAwait(false);
            if (!decision.IsAdmitted)
            {
                await ProblemResponses.WriteRejectionAsync(context, ToAdmission(decision, preview.Limit)).ConfigureAwait(false);
                return;
            }

            current = decision.Current ?? current;
        }

        context.Response.Headers[HeaderNames.CacheControl] = "no-store";
        await TypedResults.Json(new AdmissionPreview(userKey, current, preview.Limit)).ExecuteAsync(context).ConfigureAwait(false);
    }

    private static WebSocketAdmission ToAdmission(in WebSocketGateDecision decision, int limit) => new(
        decision.RejectionReason,
        PooledWebSocketManagerFactory.StatusCodeOf(decision.RejectionReason!),
        decision.Limit ?? limit,
        decision.Current ?? 0,
        decision.RetryAfter);

    private Task RefuseAsync(HttpContext context, string reason, TimeSpan? retryAfter, string? detail = null)
    {
        // Only upgrades are attempts: a preview (plain GET) is answered the same way but counted nowhere.
        if (context.WebSockets.IsWebSocketRequest)
        {
            _factory.RecordRejection(reason);
            SafeDiagnostics.Run(static (l, r) => Log.Refused(l, r), _logger, reason);
        }

        var admission = new WebSocketAdmission(reason, PooledWebSocketManagerFactory.StatusCodeOf(reason), _options.MaxConnectionsPerUser, 0, retryAfter);
        return ProblemResponses.WriteRejectionAsync(context, admission, detail);
    }

    private sealed record AdmissionPreview(string User, int Connections, int Limit);

    /// <summary>An accepted socket and what its run needs; <see langword="default"/> (no manager) when there is nothing to run.</summary>
    private readonly record struct AcceptedConnection(
        IsolatedWebSocketManager? Manager, WebSocket? Socket, DateTimeOffset? AuthenticationExpiresAt, ResumeSession? Resume);

    private static partial class Log
    {
        [LoggerMessage(101, LogLevel.Information, "WebSocket request refused: {Reason}.", EventName = "RequestRefused")]
        public static partial void Refused(ILogger logger, string reason);

        [LoggerMessage(102, LogLevel.Information, "WebSocket request refused by the admission gate: {Reason}.", EventName = "GateRefused")]
        public static partial void GateRefused(ILogger logger, string reason);
    }
}

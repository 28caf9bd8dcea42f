// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Globalization;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Http;

namespace WebSocketPool.Internal;

/// <summary>
/// A reconnect that presents a session token (docs/resume-protocol.md, section 3). It spends connect tokens (per-IP and
/// per-user rates) like any attempt; the held session is then found and taken before any cap check, because its slot is still counted: a user at the limit resumes, and nothing is evicted for it.
/// A session that cannot be resumed is answered with a socket closed at once with 4004, so that the client drops its
/// token and reconnects fresh; that socket never reaches the handler and holds no slot.
/// </summary>
internal sealed partial class WebSocketPoolingMiddleware
{
    private const string ResumeRefusedReason = "Session cannot be resumed.";

    /// <summary>Gets the token a resume presents, when this request is one (an upgrade selecting the resume protocol).</summary>
    private bool TryGetResumeToken(HttpContext context, string? subProtocol, out string token)
    {
        token = string.Empty;
        if (_resumeTokens is null || !ResumeProtocol.IsResume(subProtocol)
            || !context.Request.Query.TryGetValue(ResumeProtocol.TokenParameter, out var values) || values.Count != 1 || string.IsNullOrEmpty(values[0]))
        {
            return false;
        }

        token = values[0]!;
        return true;
    }

    private async Task ResumeAsync(HttpContext context, string userKey, string subProtocol, string token)
    {
        // A resume is a connection attempt like any other for the connect rates (a refused one is retried by the client
        // with its token, within the window); only the caps are skipped, since its slot is still held.
        if (_factory.TakeConnectTokens(userKey, ClientAddress.Of(context)) is { } rateLimited)
        {
            await ProblemResponses.WriteRejectionAsync(context, rateLimited).ConfigureAwait(false);
            return;
        }

        var (held, replay, why) = await TakeHeldSessionAsync(context, userKey, token).ConfigureAwait(false);
        if (held is null)
        {
            await RefuseResumeAsync(context, subProtocol, why).ConfigureAwait(false);
            return;
        }

        var manager = held.Owner;
        WebSocket socket;
        try
        {
            socket = await context.WebSockets.AcceptWebSocketAsync(PoolAcceptContext.Create(_options, subProtocol)).ConfigureAwait(false);
        }
        catch
        {
            // The new handshake failed: the session ends as one that was not resumed.
            await manager.EndTakenAsync(held, "closed").ConfigureAwait(false);
            throw;
        }

        // A token resumes at most once: the resumed session gets a new one, in its session frame.
        var reissued = _resumeTokens!.Issue(userKey, held.Connection.ConnectionId, out var secret);
        manager.Resume!.Reissue(reissued, secret);
        await manager.ResumeRunAsync(socket, held, replay, context, context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>
    /// Finds and takes the session <paramref name="token"/> names, with the messages to replay after the client's last
    /// received sequence; <see langword="null"/>, with why, when it cannot be resumed.
    /// </summary>
    private async Task<(IsolatedWebSocketManager.HeldSession? Held, ResumeSession.Buffered[] Replay, string Why)> TakeHeldSessionAsync(
        HttpContext context, string userKey, string token)
    {
        if (!context.Request.Query.TryGetValue(ResumeProtocol.LastParameter, out var lastValues) || lastValues.Count != 1
            || !long.TryParse(lastValues[0], NumberStyles.None, CultureInfo.InvariantCulture, out var last))
        {
            return (null, [], "no valid last received sequence");
        }

        if (!_resumeTokens!.TryRead(token, out var connectionId, out var secret, out var tokenUser))
        {
            return (null, [], "the token was not issued by this pool");
        }

        if (!string.Equals(tokenUser, userKey, StringComparison.Ordinal))
        {
            SafeDiagnostics.Run(static (l, _) => PoolLog.ResumeTokenOfAnotherUser(l), _logger, 0);
            return (null, [], "the token was issued to another user");
        }

        // The old socket may still look open here: the client can know of a drop long before a keep-alive tells the server.
        if (!_factory.TryGetManager(connectionId, out var manager, out var generation)
            || await manager.TakeOverAsync(generation, secret, _options.SendTimeout, context.RequestAborted).ConfigureAwait(false) is not { } held)
        {
            return (null, [], "the session is not held here (expired, closed, already resumed, or held by another node)");
        }

        if (manager.Resume?.TakeReplay(last) is not { } missed)
        {
            // Taken, but what the client missed cannot be replayed: the session ends as one not resumed.
            await manager.EndTakenAsync(held, "overflowed").ConfigureAwait(false);
            return (null, [], "the messages the client missed cannot be replayed");
        }

        return (held, missed, string.Empty);
    }

    /// <summary>Accepts the upgrade only to close it with 4004 at once: a browser sees a close code, never a status.</summary>
    private async Task RefuseResumeAsync(HttpContext context, string subProtocol, string why)
    {
        _factory.OnResumeRefused(why);
        using var socket = await context.WebSockets.AcceptWebSocketAsync(PoolAcceptContext.Create(_options, subProtocol)).ConfigureAwait(false);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        deadline.CancelAfter(_options.SendTimeout);
        try
        {
            await socket.CloseAsync((WebSocketCloseStatus)WebSocketCloseCodes.ResumeRefused, ResumeRefusedReason, deadline.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException)
        {
            // A client that does not answer the close is simply gone.
            socket.Abort();
        }
    }
}

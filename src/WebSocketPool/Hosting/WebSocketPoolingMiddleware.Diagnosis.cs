// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Security.Claims;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Authentication;

namespace WebSocketPool.Internal;

/// <summary>
/// Mistakes that would otherwise pass in silence: the pool placed before <c>UseAuthentication()</c> (a warning, once), and
/// refusals whose standard detail would not tell the developer what to change (which Origin, which claim).
/// </summary>
internal sealed partial class WebSocketPoolingMiddleware
{
    private const int MaxEchoedOriginLength = 200;

    /// <summary>
    /// The authentication middleware marks every request it sees (<see cref="IAuthenticationFeature"/>, set before it
    /// authenticates). An app that registered authentication but whose request arrives here unmarked has the pool before
    /// <c>UseAuthentication()</c>: every user would be refused as anonymous.
    /// </summary>
    private void WarnIfAuthenticationHasNotRun(HttpContext context)
    {
        if (_authenticationRegistered
            && context.Features.Get<IAuthenticationFeature>() is null
            && Interlocked.Exchange(ref _authenticationNotRunLogged, 1) == 0)
        {
            SafeDiagnostics.Run(static (l, path) => PoolLog.AuthenticationNotRun(l, path), _logger, context.Request.Path.Value ?? _options.Path);
        }
    }

    private string OriginDetail(HttpContext context)
    {
        var origin = context.Request.Headers.Origin.ToString();
        if (origin.Length > MaxEchoedOriginLength)
        {
            origin = string.Concat(origin.AsSpan(0, MaxEchoedOriginLength), "...");
        }

        return _options.AllowedOrigins.Count == 0
            ? $"The Origin '{origin}' may not open WebSockets here: with the AllowedOrigins option (WebSocketPool:AllowedOrigins) empty, only the server's own origin may. Add the page's origin to AllowedOrigins."
            : $"The Origin '{origin}' may not open WebSockets here: it is not in the AllowedOrigins option (WebSocketPool:AllowedOrigins).";
    }

    private string UnauthenticatedDetail(HttpContext context)
    {
        if (_resolver is not DefaultUserKeyResolver)
        {
            return $"The user key resolver ({_resolver.GetType().Name}) found no user for this request.";
        }

        var identity = context.User.Identity;
        if (identity?.IsAuthenticated != true)
        {
            return "A WebSocket needs an authenticated user and this request has none: sign in first (and call UseAuthentication() before UseWebSocketPooling()), or set AllowAnonymous.";
        }

        var nameClaim = (identity as ClaimsIdentity)?.NameClaimType ?? ClaimsIdentity.DefaultNameClaimType;
        return $"The user is authenticated but has no claim to key connections by: the pool needs the '{ClaimTypes.NameIdentifier}' claim (ClaimTypes.NameIdentifier) or a name (the '{nameClaim}' claim). Add one at sign-in, or register an IUserKeyResolver.";
    }
}

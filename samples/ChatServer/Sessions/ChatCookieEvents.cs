// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;

namespace ChatServer.Sessions;

/// <summary>
/// The auth cookie's events. Every request that carries the cookie (the page's requests, the <c>/ws</c> preview and
/// upgrade) is checked against the session stamp store: a cookie whose stamp is no longer the user's current one was
/// signed out, perhaps on another node, and is refused and cleared. There is no login page to redirect to, so
/// challenges answer 401 and 403 like an API.
/// </summary>
internal sealed partial class ChatCookieEvents(ISessionStampStore stamps, ILogger<ChatCookieEvents> logger) : CookieAuthenticationEvents
{
    public override async Task ValidatePrincipal(CookieValidatePrincipalContext context)
    {
        var user = context.Principal?.FindFirstValue(ClaimTypes.NameIdentifier);
        var stamp = context.Principal?.FindFirstValue(SessionStamp.ClaimType);
        if (user is null || stamp is null)
        {
            await RefuseAsync(context);
            return;
        }

        string? current;
        try
        {
            current = await stamps.GetAsync(user, context.HttpContext.RequestAborted);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Fail closed, but keep the cookie: the session may well be valid once the store answers again.
            Log.StoreUnavailable(logger, ex);
            context.RejectPrincipal();
            return;
        }

        if (current is not null && !string.Equals(current, stamp, StringComparison.Ordinal))
        {
            Log.RevokedSession(logger);
            Log.RevokedSessionOf(logger, user);
            await RefuseAsync(context);
        }
    }

    public override Task RedirectToLogin(RedirectContext<CookieAuthenticationOptions> context) =>
        SetStatus(context.Response, StatusCodes.Status401Unauthorized);

    public override Task RedirectToAccessDenied(RedirectContext<CookieAuthenticationOptions> context) =>
        SetStatus(context.Response, StatusCodes.Status403Forbidden);

    private static async Task RefuseAsync(CookieValidatePrincipalContext context)
    {
        context.RejectPrincipal();
        await context.HttpContext.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
    }

    private static Task SetStatus(HttpResponse response, int statusCode)
    {
        response.StatusCode = statusCode;
        return Task.CompletedTask;
    }

    private static partial class Log
    {
        [LoggerMessage(6, LogLevel.Information, "Refused a signed-out session: its cookie's session stamp was revoked.", EventName = "ChatSessionRevoked")]
        public static partial void RevokedSession(ILogger logger);

        // The name is a user key: Debug only.
        [LoggerMessage(7, LogLevel.Debug, "The refused session belonged to {User}.", EventName = "ChatSessionRevokedUser")]
        public static partial void RevokedSessionOf(ILogger logger, string user);

        [LoggerMessage(8, LogLevel.Warning, "The session stamp store could not be read; the request is treated as signed out.", EventName = "ChatSessionStoreUnavailable")]
        public static partial void StoreUnavailable(ILogger logger, Exception exception);
    }
}

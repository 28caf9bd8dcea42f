// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Security.Claims;
using ChatServer.Sessions;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Net.Http.Headers;
using WebSocketPool;

namespace ChatServer;

/// <summary>
/// <c>POST /login</c> (form field <c>name</c>) signs in with a cookie and redirects to <c>/</c>; <c>POST /logout</c>
/// revokes the session (every copy of its cookie, on every node), clears the cookie and closes that user's WebSockets
/// with 4003; <c>GET /antiforgery</c> gives the page the token its posts carry. There is no password: any valid name
/// signs in. This is a demo of the pool, not authentication; any cookie or token scheme works the same way, since the
/// pool only reads the user from the request.
/// </summary>
/// <remarks>
/// <para>
/// Cross-site forgery: the auth cookie is SameSite=Strict, so another site's requests never act as the signed-in user,
/// but a sign-in or a sign-out needs no cookie to do harm (another site's auto-submitted form could sign a visitor in
/// under the attacker's name, or out). So a request that carries browser provenance, an <c>Origin</c> or a
/// <c>Sec-Fetch-Site</c> header (browsers send one or both with every form post and every <c>fetch</c> POST), must carry
/// a valid antiforgery token; a missing or wrong one is answered 400 with a problem body. A request with neither header
/// comes from a non-browser client (curl, scripts, the tests), which a victim's browser can never be made to send, so it
/// keeps the documented contract: a plain form-encoded <c>name</c>, no token.
/// </para>
/// <para>
/// Bodies: at most <see cref="MaxFormBytes"/>; anything unreadable (not a form, a broken form, too large) is a 400
/// problem, never a 500.
/// </para>
/// </remarks>
internal static partial class AccountEndpoints
{
    /// <summary>The largest body /login and /logout read: a name, a token and room to spare.</summary>
    public const int MaxFormBytes = 16 * 1024;

    public static IEndpointRouteBuilder MapAccountEndpoints(this IEndpointRouteBuilder endpoints)
    {
        // Antiforgery is validated by hand (CheckProvenanceAsync) under the rule above, not by the framework's
        // all-or-nothing middleware, which would break the plain-form contract for non-browser clients.
        endpoints.MapGet("/antiforgery", GetToken);
        endpoints.MapPost("/login", LoginAsync).DisableAntiforgery();
        endpoints.MapPost("/logout", LogoutAsync).DisableAntiforgery();
        return endpoints;
    }

    /// <summary>The page fetches a token before each post: it is bound to the user signed in at the time (none for /login).</summary>
    private static Ok<AntiforgeryToken> GetToken(HttpContext context, IAntiforgery antiforgery)
    {
        var tokens = antiforgery.GetAndStoreTokens(context);
        context.Response.Headers.CacheControl = "no-store";
        return TypedResults.Ok(new AntiforgeryToken(tokens.RequestToken!, ChatAuthentication.AntiforgeryHeaderName));
    }

    private static async Task<IResult> LoginAsync(HttpContext context, IAntiforgery antiforgery, ISessionStampStore stamps, ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger(typeof(AccountEndpoints).FullName!);
        LimitBody(context);
        if (await CheckProvenanceAsync(context, antiforgery, logger) is { } refused)
        {
            return refused;
        }

        if (!context.Request.HasFormContentType)
        {
            return InvalidName("Send the name as a form field: name=….");
        }

        IFormCollection form;
        try
        {
            form = await context.Request.ReadFormAsync(context.RequestAborted);
        }
        catch (Exception ex) when (IsUnreadableBody(ex))
        {
            return UnreadableBody(context, ex);
        }

        var name = form["name"].ToString();
        if (UserName.Validate(name) is { } problem)
        {
            return InvalidName(problem);
        }

        // The user's current stamp, if a sign-out stored one (else any stamp is current): other sessions of the name live on.
        string? stamp;
        try
        {
            stamp = await stamps.GetAsync(name, context.RequestAborted);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.StoreFailed(logger, ex);
            return Unavailable("Signing in is not possible right now; try again.");
        }

        // The name is the pool's user key: the default resolver reads NameIdentifier.
        var identity = new ClaimsIdentity(
            [
                new Claim(ClaimTypes.NameIdentifier, name),
                new Claim(ClaimTypes.Name, name),
                new Claim(SessionStamp.ClaimType, stamp ?? SessionStamp.New()),
            ],
            CookieAuthenticationDefaults.AuthenticationScheme);
        await context.SignInAsync(new ClaimsPrincipal(identity));
        Log.SignedIn(logger, name);
        return TypedResults.Redirect("/");
    }

    private static async Task<IResult> LogoutAsync(HttpContext context, IAntiforgery antiforgery, ISessionStampStore stamps, IWebSocketSender sender,
        [FromKeyedServices(NotifyHandler.PoolName)] IWebSocketSender notifications, ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger(typeof(AccountEndpoints).FullName!);
        LimitBody(context);
        if (await CheckProvenanceAsync(context, antiforgery, logger) is { } refused)
        {
            return refused;
        }

        var user = context.User.FindFirstValue(ClaimTypes.NameIdentifier);
        if (user is not null)
        {
            try
            {
                // First, so that a copy of the cookie is refused from now on, on every node; if this fails, nothing changes.
                await stamps.RevokeAsync(user, context.RequestAborted);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Log.StoreFailed(logger, ex);
                return Unavailable("Signing out is not possible right now; try again.");
            }
        }

        await context.SignOutAsync();
        if (user is not null)
        {
            // Every open tab of this user ends now; 4003 tells the page not to reconnect.
            await sender.DisconnectUserAsync(user, WebSocketCloseCodes.Kicked, "Signed out.", context.RequestAborted);
            await notifications.DisconnectUserAsync(user, WebSocketCloseCodes.Kicked, "Signed out.", context.RequestAborted);
            Log.SignedOut(logger, user);
        }

        return TypedResults.NoContent();
    }

    /// <summary>
    /// Browser provenance (Origin or Sec-Fetch-Site) requires a valid antiforgery token; no provenance needs none (see the
    /// class remarks). Returns the refusal, or <see langword="null"/> when the request may go on.
    /// </summary>
    private static async Task<IResult?> CheckProvenanceAsync(HttpContext context, IAntiforgery antiforgery, ILogger logger)
    {
        var headers = context.Request.Headers;
        if (!headers.ContainsKey(HeaderNames.Origin) && !headers.ContainsKey("Sec-Fetch-Site"))
        {
            return null;
        }

        try
        {
            await antiforgery.ValidateRequestAsync(context);
            return null;
        }
        catch (AntiforgeryValidationException)
        {
            Log.ForgeryRefused(logger, context.Request.Path.Value ?? string.Empty);
            return TypedResults.Problem(
                $"This request came from a browser, so it must carry the antiforgery token from GET /antiforgery in the {ChatAuthentication.AntiforgeryHeaderName} header.",
                statusCode: StatusCodes.Status400BadRequest,
                title: "Missing or invalid antiforgery token");
        }
        catch (Exception ex) when (IsUnreadableBody(ex))
        {
            return UnreadableBody(context, ex);
        }
    }

    /// <summary>Caps what /login and /logout read, before anything reads the body (Kestrel's own cap is 30 MB).</summary>
    private static void LimitBody(HttpContext context)
    {
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = MaxFormBytes;
        }
    }

    /// <summary>What reading a form throws for a body it cannot read: too large, a broken form or multipart body, a body cut short.</summary>
    private static bool IsUnreadableBody(Exception exception) =>
        exception is InvalidDataException or BadHttpRequestException or IOException or FormatException or System.Text.DecoderFallbackException;

    private static ProblemHttpResult UnreadableBody(HttpContext context, Exception exception)
    {
        var tooLarge = exception is BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge };
        return TypedResults.Problem(
            tooLarge ? $"The form is larger than {MaxFormBytes} bytes." : "The form could not be read: send it as application/x-www-form-urlencoded.",
            statusCode: StatusCodes.Status400BadRequest,
            title: tooLarge ? "Form too large" : "Unreadable form",
            instance: context.Request.Path);
    }

    private static ProblemHttpResult InvalidName(string detail) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status400BadRequest, title: "Invalid name");

    private static ProblemHttpResult Unavailable(string detail) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status503ServiceUnavailable, title: "Session store unavailable");

    /// <summary>The body of <c>GET /antiforgery</c>: the token and the header to send it in.</summary>
    internal sealed record AntiforgeryToken(string Token, string HeaderName);

    private static partial class Log
    {
        // Names are user keys: Debug only.
        [LoggerMessage(4, LogLevel.Debug, "{User} signed in.", EventName = "ChatSignedIn")]
        public static partial void SignedIn(ILogger logger, string user);

        [LoggerMessage(5, LogLevel.Debug, "{User} signed out; their sessions are revoked.", EventName = "ChatSignedOut")]
        public static partial void SignedOut(ILogger logger, string user);

        [LoggerMessage(9, LogLevel.Information, "Refused {Path}: a browser request without a valid antiforgery token.", EventName = "ChatForgeryRefused")]
        public static partial void ForgeryRefused(ILogger logger, string path);

        [LoggerMessage(10, LogLevel.Warning, "The session stamp store failed.", EventName = "ChatSessionStoreFailed")]
        public static partial void StoreFailed(ILogger logger, Exception exception);
    }
}

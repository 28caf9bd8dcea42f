// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Http.HttpResults;
using WebSocketPool;

namespace ChatServer;

/// <summary>
/// <c>POST /login</c> (form field <c>name</c>) signs in with a cookie and redirects to <c>/</c>; <c>POST /logout</c>
/// signs out and closes that user's WebSockets with 4003. There is no password: this is a demo of the pool, not of
/// authentication. Any cookie or token scheme works the same way, since the pool only reads the user from the request.
/// </summary>
internal static class AccountEndpoints
{
    public static IEndpointRouteBuilder MapAccountEndpoints(this IEndpointRouteBuilder endpoints)
    {
        // No antiforgery token: the contract is a plain form post. The SameSite=Strict cookie is what keeps other
        // sites from acting as a signed-in user (their requests carry no cookie).
        endpoints.MapPost("/login", LoginAsync).DisableAntiforgery();
        endpoints.MapPost("/logout", LogoutAsync).DisableAntiforgery();
        return endpoints;
    }

    private static async Task<IResult> LoginAsync(HttpContext context, CancellationToken cancellationToken)
    {
        if (!context.Request.HasFormContentType)
        {
            return InvalidName("Send the name as a form field: name=….");
        }

        IFormCollection form;
        try
        {
            form = await context.Request.ReadFormAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is InvalidDataException or BadHttpRequestException)
        {
            return InvalidName("The form could not be read.");
        }

        var name = form["name"].ToString();
        if (UserName.Validate(name) is { } problem)
        {
            return InvalidName(problem);
        }

        // The name is the pool's user key: the default resolver reads NameIdentifier.
        var identity = new ClaimsIdentity(
            [new Claim(ClaimTypes.NameIdentifier, name), new Claim(ClaimTypes.Name, name)],
            CookieAuthenticationDefaults.AuthenticationScheme);
        await context.SignInAsync(new ClaimsPrincipal(identity));
        return TypedResults.Redirect("/");
    }

    private static async Task<IResult> LogoutAsync(HttpContext context, IWebSocketSender sender)
    {
        var user = context.User.FindFirstValue(ClaimTypes.NameIdentifier);
        await context.SignOutAsync();
        if (user is not null)
        {
            // Every open tab of this user ends now; 4003 tells the page not to reconnect.
            await sender.DisconnectUserAsync(user, WebSocketCloseCodes.Kicked, "Signed out.", context.RequestAborted);
        }

        return TypedResults.NoContent();
    }

    private static ProblemHttpResult InvalidName(string detail) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status400BadRequest, title: "Invalid name");
}

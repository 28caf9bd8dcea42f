// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using ChatServer.Sessions;
using Microsoft.AspNetCore.Authentication.Cookies;

namespace ChatServer;

/// <summary>
/// The sample's sign-in: a cookie, a server-side session stamp that a sign-out revokes (so a copied cookie dies with
/// the session), and antiforgery tokens for the page's form posts (see <see cref="AccountEndpoints"/>). The sign-in
/// itself takes any valid name: it is a demo of the pool, not authentication.
/// </summary>
internal static class ChatAuthentication
{
    /// <summary>The header the page sends the antiforgery token in.</summary>
    public const string AntiforgeryHeaderName = "X-CSRF-TOKEN";

    public static IServiceCollection AddChatAuthentication(this IServiceCollection services, IConfiguration configuration)
    {
        var session = SessionSettings.From(configuration);
        services.AddSingleton(session);
        services.AddSingleton<ChatCookieEvents>();
        services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme)
            .AddCookie(options =>
            {
                options.Cookie.Name = "chat.auth";
                options.Cookie.HttpOnly = true;                                   // page script never sees it
                options.Cookie.SameSite = SameSiteMode.Strict;                    // other sites' requests never carry it
                options.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;   // Secure whenever served over HTTPS
                options.ExpireTimeSpan = session.Lifetime;
                options.SlidingExpiration = true;
                options.EventsType = typeof(ChatCookieEvents);                    // the session stamp check, 401/403 without redirects
            });

        // The token proves a form post came from this page; the cookie half is as strict as the auth cookie.
        services.AddAntiforgery(options =>
        {
            options.HeaderName = AntiforgeryHeaderName;
            options.Cookie.Name = "chat.af";
            options.Cookie.SameSite = SameSiteMode.Strict;
            options.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            options.SuppressXFrameOptionsHeader = true;                           // SecurityHeaders sends DENY already
        });
        return services;
    }
}

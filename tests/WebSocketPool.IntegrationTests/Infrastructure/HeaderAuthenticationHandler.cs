// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace WebSocketPool.IntegrationTests.Infrastructure;

/// <summary>
/// A test-only authentication scheme: the <c>X-Test-User</c> header names the user, and an optional
/// <c>X-Test-Expires</c> header (ISO-8601) sets the result's <see cref="AuthenticationProperties.ExpiresUtc"/>, as a bearer
/// token's <c>exp</c> does.
/// </summary>
internal sealed class HeaderAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "TestHeader";
    public const string HeaderName = "X-Test-User";
    public const string ExpiresHeaderName = "X-Test-Expires";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var user = Request.Headers[HeaderName].ToString();
        if (string.IsNullOrEmpty(user))
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        var identity = new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, user)], SchemeName);
        var properties = new AuthenticationProperties();
        if (DateTimeOffset.TryParse(Request.Headers[ExpiresHeaderName].ToString(), System.Globalization.CultureInfo.InvariantCulture, out var expires))
        {
            properties.ExpiresUtc = expires;
        }

        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), properties, SchemeName)));
    }
}

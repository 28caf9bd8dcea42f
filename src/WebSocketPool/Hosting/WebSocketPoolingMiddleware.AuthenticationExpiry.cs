// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;

namespace WebSocketPool.Internal;

/// <summary>Reads when the request's authentication expires, for <see cref="WebSocketPoolOptions.CloseOnAuthenticationExpiration"/>.</summary>
internal sealed partial class WebSocketPoolingMiddleware
{
    /// <summary>
    /// The expiry of the authentication the request carries, as SignalR reads it: the <c>ExpiresUtc</c> of the
    /// authentication result that <c>UseAuthentication()</c> stored (the cookie ticket's expiry, a bearer token's
    /// <c>exp</c>). <see langword="null"/> when the option is off or the authentication has no expiry (no timer then).
    /// </summary>
    private DateTimeOffset? AuthenticationExpiry(HttpContext context) =>
        _options.CloseOnAuthenticationExpiration
            ? context.Features.Get<IAuthenticateResultFeature>()?.AuthenticateResult?.Properties?.ExpiresUtc
            : null;

    /// <summary>
    /// True when the request's authentication has already expired, though its scheme accepted it (a bearer token inside
    /// its clock skew): it is refused as unauthenticated before the upgrade rather than accepted and closed with 4005.
    /// </summary>
    private bool HasExpired(DateTimeOffset? expiresAt) => expiresAt <= _factory.TimeProvider.GetUtcNow();
}

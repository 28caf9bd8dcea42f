// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.AspNetCore.Http;

namespace WebSocketPool;

/// <summary>
/// Decides which user a WebSocket request belongs to. Limits are counted per user key. The default uses the
/// <c>NameIdentifier</c> claim, then <c>Identity.Name</c>; with <see cref="WebSocketPoolOptions.AllowAnonymous"/>
/// an unauthenticated request is keyed by its remote IP address.
/// </summary>
public interface IUserKeyResolver
{
    /// <summary>Resolves the user key of a request before the upgrade.</summary>
    /// <param name="context">The HTTP request.</param>
    /// <returns>The user key, or <see langword="null"/> when the request has no user (answered with 401).</returns>
    ValueTask<string?> ResolveUserKeyAsync(HttpContext context);
}

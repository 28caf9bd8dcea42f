// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Security.Claims;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace WebSocketPool.Internal;

/// <summary>The <c>NameIdentifier</c> claim, then <c>Identity.Name</c>; anonymous requests by remote IP when allowed.</summary>
internal sealed class DefaultUserKeyResolver(IOptions<WebSocketPoolOptions> options) : IUserKeyResolver
{
    public ValueTask<string?> ResolveUserKeyAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var user = context.User;
        if (user.Identity?.IsAuthenticated == true)
        {
            var key = user.FindFirst(ClaimTypes.NameIdentifier)?.Value ?? user.Identity.Name;
            if (!string.IsNullOrEmpty(key))
            {
                return new(key);
            }
        }

        return new(options.Value.AllowAnonymous ? ClientAddress.Of(context)?.ToString() ?? "unknown" : null);
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using WebSocketPool;

namespace EchoServer;

/// <summary>
/// DEMO ONLY, INSECURE: takes the user key from <c>?user=NAME</c>, so anyone can claim to be anyone. It exists so
/// benchmarks and protocol checks can open many users' connections without a login. Real apps authenticate and use
/// the default resolver (claims).
/// </summary>
internal sealed class QueryStringUserKeyResolver : IUserKeyResolver
{
    public ValueTask<string?> ResolveUserKeyAsync(HttpContext context)
    {
        var user = context.Request.Query["user"].ToString();
        return new(string.IsNullOrWhiteSpace(user) ? null : user);
    }
}

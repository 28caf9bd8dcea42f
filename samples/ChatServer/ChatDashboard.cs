// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Security.Claims;
using WebSocketPool.Samples;

namespace ChatServer;

/// <summary>
/// The library's dashboard at <c>/admin/websockets</c>. By default it answers only loopback callers (anyone on the
/// machine may look and kick), or anyone with <c>Diagnostics:AllowRemote</c>. With <c>Dashboard:Operators</c> set (a
/// comma-separated list of chat names) it is for those signed-in users only, from anywhere: others get 403, callers
/// without a cookie 401.
/// </summary>
internal static class ChatDashboard
{
    public const string Path = "/admin/websockets";
    public const string OperatorsPolicy = "chat-operators";
    private const string OperatorsKey = "Dashboard:Operators";

    public static IServiceCollection AddChatDashboard(this IServiceCollection services, IConfiguration configuration)
    {
        var operators = Operators(configuration);
        services.AddAuthorization(options => options.AddPolicy(OperatorsPolicy, policy => policy
            .RequireAuthenticatedUser()
            .RequireAssertion(context => context.User.FindFirstValue(ClaimTypes.NameIdentifier) is { } name && operators.Contains(name))));
        return services;
    }

    public static IEndpointConventionBuilder MapChatDashboard(this IEndpointRouteBuilder endpoints, IConfiguration configuration)
    {
        var dashboard = endpoints.MapWebSocketPoolDashboard(Path);
        return Operators(configuration).Count > 0
            ? dashboard.RequireAuthorization(OperatorsPolicy)
            : dashboard.RequireLoopbackUnlessConfigured();
    }

    private static HashSet<string> Operators(IConfiguration configuration) =>
        new((configuration[OperatorsKey] ?? string.Empty).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries), StringComparer.Ordinal);
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;

namespace WebSocketPool.Internal;

/// <summary>
/// The dashboard's endpoints: the page and its two assets (embedded in the package), the JSON the page polls, and the
/// kick. The page's Content-Security-Policy allows scripts, styles and requests from this origin only; the page writes
/// every user name as text.
/// </summary>
internal sealed class DashboardEndpoints(string prefix, WebSocketPoolInstance pool, WebSocketPoolDashboardOptions options, DashboardHistory history)
{
    private readonly string _poolName = pool.Name;

    public const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    public const string KickCloseReason = "Kicked by an operator.";

    /// <summary>The users the page lists, nearest their limit first.</summary>
    public const int TopUsers = 10;

    public Task PageAsync(HttpContext context)
    {
        var html = DashboardAssets.Page
            .Replace("{{base}}", HtmlEncoder.Default.Encode(context.Request.PathBase + prefix), StringComparison.Ordinal)
            .Replace("{{pool}}", HtmlEncoder.Default.Encode(_poolName), StringComparison.Ordinal)
            .Replace("{{refresh}}", ((long)options.RefreshInterval.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
        SetPageHeaders(context.Response, "no-store");
        context.Response.ContentType = "text/html; charset=utf-8";
        return context.Response.WriteAsync(html);
    }

    public static Task ScriptAsync(HttpContext context) => WriteAssetAsync(context, DashboardAssets.Script, "text/javascript; charset=utf-8");

    public static Task StyleAsync(HttpContext context) => WriteAssetAsync(context, DashboardAssets.Style, "text/css; charset=utf-8");

    public static Task IconAsync(HttpContext context) => WriteAssetAsync(context, DashboardAssets.Icon, "image/svg+xml");

    public async Task DataAsync(HttpContext context)
    {
        var services = context.RequestServices;
        var factory = pool.Factory;
        var timeProvider = services.GetRequiredService<TimeProvider>();
        var snapshot = factory.GetSnapshot(TopUsers);
        var health = await new WebSocketPoolHealthCheck(factory, pool.Auditor)
            .CheckHealthAsync(new HealthCheckContext(), context.RequestAborted).ConfigureAwait(false);

        // The ring's samples, then the pool as it is now, so the chart's right edge is never older than the last poll.
        var samples = history.Read().Append(DashboardPoint.Now(factory, timeProvider)).ToArray();
        DashboardKick? kick = null;
        if (await CanKickAsync(context).ConfigureAwait(false))
        {
            var antiforgery = services.GetRequiredService<IAntiforgery>();
            var tokens = antiforgery.GetAndStoreTokens(context);
            kick = new DashboardKick(tokens.HeaderName!, tokens.RequestToken!);
        }

        context.Response.Headers.CacheControl = "no-store";
        await TypedResults.Json(new DashboardData(
            _poolName,
            timeProvider.GetUtcNow().ToUnixTimeMilliseconds(),
            (long)history.Interval.TotalMilliseconds,
            (long)options.History.TotalMilliseconds,
            DashboardHistory.Reasons,
            samples,
            snapshot.ActiveConnections,
            snapshot.MaxConnections,
            snapshot.UserCount,
            snapshot.Draining,
            snapshot.Users,
            snapshot.Rejected,
            snapshot.Evicted,
            new DashboardHealth(health.Status.ToString(), health.Description),
            kick)).ExecuteAsync(context).ConfigureAwait(false);
    }

    public async Task KickAsync(HttpContext context)
    {
        if (!await CanKickAsync(context).ConfigureAwait(false))
        {
            await ProblemResponses.WriteAsync(context, StatusCodes.Status403Forbidden, "kick_forbidden", "Kick not allowed",
                "You may view this dashboard but not kick users.", null).ConfigureAwait(false);
            return;
        }

        var services = context.RequestServices;
        try
        {
            await services.GetRequiredService<IAntiforgery>().ValidateRequestAsync(context).ConfigureAwait(false);
        }
        catch (AntiforgeryValidationException)
        {
            await ProblemResponses.WriteAsync(context, StatusCodes.Status400BadRequest, "antiforgery", "Invalid antiforgery token",
                "A kick must carry the antiforgery token the dashboard page was given; reload the page.", null).ConfigureAwait(false);
            return;
        }

        var user = context.Request.HasFormContentType
            ? (await context.Request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false))["user"].ToString()
            : string.Empty;
        if (string.IsNullOrEmpty(user))
        {
            await ProblemResponses.WriteAsync(context, StatusCodes.Status400BadRequest, "invalid_user", "No user",
                "Post the user to kick as the form field 'user'.", null).ConfigureAwait(false);
            return;
        }

        // Through the sender: with WebSocketPool.Redis every node closes the user's connections, not only this one. The
        // count is this node's.
        var closed = await pool.Sender.DisconnectUserAsync(user, WebSocketCloseCodes.Kicked, KickCloseReason, context.RequestAborted).ConfigureAwait(false);
        SafeDiagnostics.Run(static (l, n) => PoolLog.DashboardKick(l, n), services.GetRequiredService<ILogger<PooledWebSocketManagerFactory>>(), closed);
        context.Response.Headers.CacheControl = "no-store";
        await TypedResults.Json(new DashboardKickResult(user, closed, WebSocketCloseCodes.Kicked)).ExecuteAsync(context).ConfigureAwait(false);
    }

    private async ValueTask<bool> CanKickAsync(HttpContext context)
    {
        if (!options.AllowKick)
        {
            return false;
        }

        if (options.KickPolicy is not { } policy)
        {
            return true;
        }

        var authorization = context.RequestServices.GetRequiredService<IAuthorizationService>();
        return (await authorization.AuthorizeAsync(context.User, policy).ConfigureAwait(false)).Succeeded;
    }

    private static Task WriteAssetAsync(HttpContext context, byte[] content, string contentType)
    {
        SetPageHeaders(context.Response, "no-cache");
        context.Response.ContentType = contentType;
        context.Response.ContentLength = content.Length;
        return context.Response.Body.WriteAsync(content).AsTask();
    }

    private static void SetPageHeaders(HttpResponse response, string cacheControl)
    {
        var headers = response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        headers[HeaderNames.CacheControl] = cacheControl;
        headers["Referrer-Policy"] = "no-referrer";
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace WebSocketPool.BrowserTests.Infrastructure;

/// <summary>
/// Another site: a tiny Kestrel app on 127.0.0.1 whose pages are visited as <c>http://localhost:PORT/</c>, a different
/// site from the chat's <c>http://127.0.0.1:PORT/</c> (SameSite cookies and <c>Sec-Fetch-Site</c> see it as cross-site).
/// Its page <c>/post?target=URL&amp;name=VALUE</c> auto-submits a form to <c>target</c>, with a <c>name</c> field when
/// given: the classic cross-site request forgery.
/// </summary>
public sealed class CrossSiteAttacker : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly int _port;

    private CrossSiteAttacker(WebApplication app, int port)
    {
        _app = app;
        _port = port;
    }

    public static async Task<CrossSiteAttacker> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel().UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.MapGet("/post", static (string target, string? name) =>
        {
            var field = name is null ? string.Empty : $"""<input type="hidden" name="name" value="{WebUtility.HtmlEncode(name)}">""";
            var html = $"""
                <!doctype html>
                <html><body>
                <form method="post" action="{WebUtility.HtmlEncode(target)}">{field}</form>
                <script>document.forms[0].submit();</script>
                </body></html>
                """;
            return Results.Content(html, "text/html");
        });
        await app.StartAsync();
        var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return new CrossSiteAttacker(app, address.Port);
    }

    /// <summary>The attacker's page that posts to <paramref name="target"/>, as seen from the victim's browser (host <c>localhost</c>).</summary>
    public string PostPage(Uri target, string? name = null) =>
        $"http://localhost:{_port}/post?target={Uri.EscapeDataString(target.ToString())}" + (name is null ? string.Empty : $"&name={Uri.EscapeDataString(name)}");

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

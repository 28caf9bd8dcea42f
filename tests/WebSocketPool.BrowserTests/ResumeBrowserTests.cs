// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using WebSocketPool.BrowserTests.Infrastructure;

namespace WebSocketPool.BrowserTests;

/// <summary>
/// The JavaScript client with <c>resume: true</c> in a real Chromium, on a pool with Resume on, behind a loopback TCP
/// proxy the test owns: the proxy cuts the page's socket mid-stream, the server keeps sending, and the page's client
/// reconnects into the same session and shows every message once, in order.
/// </summary>
[Collection(SharedBrowser.Name)]
public sealed class ResumeBrowserTests(BrowserFixture fixture)
{
    private const string Page = """
        <!doctype html>
        <meta charset="utf-8">
        <title>resume</title>
        <script type="module">
          import { connect } from '/client/index.js';
          window.received = [];
          window.opens = [];
          window.codes = [];
          const client = connect('/ws?user=page', { resume: true });
          client.addEventListener('open', (e) => window.opens.push(e.detail.resumed));
          client.addEventListener('reconnecting', (e) => window.codes.push(e.detail.code));
          client.addEventListener('message', (e) => window.received.push(e.detail.data));
        </script>
        """;

    private static readonly float s_timeout = 30_000;

    [Fact]
    public async Task Resume_ProxyCutsThePagesSocket_PageGetsEveryMessageOnceInOrderOnTheSameConnection()
    {
        const int PerPhase = 100;

        // An empty content root: the ChatServer's appsettings.json beside the tests configures pools this host does not map.
        var contentRoot = Directory.CreateTempSubdirectory("wsp-resume-");
        try
        {
            await using var server = await PoolTestServer.StartAsync(
                o =>
                {
                    o.Resume.Enabled = true;
                    o.SendQueueCapacity = 1024;
                    o.AllowedOrigins.Add("*");
                },
                pipeline: ServePageAndClient,
                contentRoot: contentRoot.FullName);
            await using var proxy = new LoopbackTcpProxy(server.BaseUri);
            await using var context = await fixture.Browser.NewContextAsync();
            var page = await context.NewPageAsync();
            (await page.GotoAsync($"http://127.0.0.1:{proxy.Port}/"))!.Status.Should().Be(200);
            await page.WaitForFunctionAsync("() => window.opens.length === 1", null, new() { Timeout = s_timeout });
            var id = server.Factory.GetConnections("page").Single().ConnectionId;
            var next = 0;

            async Task SendAsync(int count)
            {
                for (var i = 0; i < count; i++)
                {
                    next++;
                    (await server.Sender.SendTextToConnectionAsync(id, "p" + next)).Should().Be(SendResult.Queued);
                }
            }

            // Act: cut mid-stream, send while the page is away, then more once it is back.
            await SendAsync(PerPhase);
            await page.WaitForFunctionAsync("() => window.received.length >= 20", null, new() { Timeout = s_timeout });
            proxy.CutAll().Should().BeGreaterThan(0);
            await SendAsync(PerPhase);
            await page.WaitForFunctionAsync("() => window.opens.length === 2", null, new() { Timeout = s_timeout });
            await SendAsync(PerPhase);
            await page.WaitForFunctionAsync($"() => window.received.length >= {3 * PerPhase}", null, new() { Timeout = s_timeout });

            // Assert
            (await page.EvaluateAsync<bool[]>("() => window.opens")).Should().Equal([false, true], "the second open resumed the session");
            (await page.EvaluateAsync<int[]>("() => window.codes")).Should().Equal([1006], "the cut is a drop, without a close frame");
            (await page.EvaluateAsync<string[]>("() => window.received")).Should().Equal(Enumerable.Range(1, 3 * PerPhase).Select(i => "p" + i));
            server.Factory.GetConnections("page").Single().ConnectionId.Should().Be(id, "the same connection goes on");
        }
        finally
        {
            contentRoot.Delete(recursive: true);
        }
    }

    /// <summary>The page at <c>/</c>, the client's sources at <c>/client/*.js</c>, then the pool.</summary>
    private static void ServePageAndClient(WebApplication app)
    {
        var source = typeof(ResumeBrowserTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "JsClientSourcePath").Value!;
        app.MapGet("/", () => Results.Content(Page, "text/html"));
        app.MapGet("/client/{file}", (string file) =>
        {
            var path = Path.Combine(source, file);
            return file.EndsWith(".js", StringComparison.Ordinal) && !file.Contains("..", StringComparison.Ordinal) && File.Exists(path)
                ? Results.File(path, "text/javascript")
                : Results.NotFound();
        });
        app.UseWebSocketPooling();
    }
}

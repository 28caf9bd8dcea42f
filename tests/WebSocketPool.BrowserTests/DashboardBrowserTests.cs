// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using System.Net.WebSockets;
using Microsoft.Playwright;
using WebSocketPool.BrowserTests.Infrastructure;
using static Microsoft.Playwright.Assertions;

namespace WebSocketPool.BrowserTests;

/// <summary>
/// The library's dashboard in a real Chromium, served by the real ChatServer process with one operator
/// (<c>Dashboard:Operators</c>): the live chart, the kick button, and who is refused. Set
/// <c>WEBSOCKETPOOL_DASHBOARD_SCREENSHOT</c> to a file path to have the operator test save the page there (docs/dashboard.png
/// comes from such a run).
/// </summary>
[Collection(SharedBrowser.Name)]
public sealed class DashboardBrowserTests(BrowserFixture fixture)
{
    private const string Operator = "opsadmin";
    private const string Dashboard = "/admin/websockets";
    private const string ScreenshotVariable = "WEBSOCKETPOOL_DASHBOARD_SCREENSHOT";

    private IBrowser Browser => fixture.Browser;

    [Fact]
    public async Task Dashboard_Operator_ChartFollowsConnections_KickClosesTheUsersSocketsWith4003()
    {
        // Arrange
        await using var server = await ServerProcess.StartAsync(SampleServers.ChatServer($"--Dashboard:Operators={Operator}"));
        await using var context = await SignedInContextAsync(server.BaseUri, Operator);
        var page = await context.NewPageAsync();
        var problems = CollectProblems(page);
        var response = await page.GotoAsync(Dashboard);
        response!.Status.Should().Be(200);
        var chart = page.Locator("#chart");
        await Expect(chart).ToHaveAttributeAsync("data-connections", "0", new() { Timeout = ChatPage.WaitTimeout });
        var before = await page.Locator("#chart polyline.connections").GetAttributeAsync("points");

        using var victim = ChatClient.For(server.BaseUri);
        using var bystander = ChatClient.For(server.BaseUri);
        (await victim.LoginAsync("victim")).StatusCode.Should().Be(HttpStatusCode.Redirect);
        (await bystander.LoginAsync("bystander")).StatusCode.Should().Be(HttpStatusCode.Redirect);
        var victims = new List<ClientWebSocket>();
        using var bystanderSocket = await bystander.ConnectAsync();
        try
        {
            // Act: the victim reaches the shipped limit of 5 and is refused a sixth.
            for (var i = 0; i < 5; i++)
            {
                victims.Add(await victim.ConnectAsync());
            }

            (await victim.TryConnectStatusAsync()).Should().Be(429);

            // Assert: the chart, the tiles, the top users and the refusals follow.
            await Expect(chart).ToHaveAttributeAsync("data-connections", "6", new() { Timeout = ChatPage.WaitTimeout });
            await Expect(chart).ToHaveAttributeAsync("data-users", "2");
            (await page.Locator("#chart polyline.connections").GetAttributeAsync("points")).Should().NotBe(before, "the line moved");
            await Expect(page.Locator("#connections")).ToHaveTextAsync("6");
            await Expect(page.Locator("#top-users tbody tr").First).ToHaveAttributeAsync("data-user", "victim");
            await Expect(page.Locator("#rejected tr[data-reason='user_limit'] td.number")).ToHaveTextAsync("1", new() { Timeout = ChatPage.WaitTimeout });
            await Expect(page.Locator("#refusals")).ToHaveAttributeAsync("data-refusals", "1", new() { Timeout = ChatPage.WaitTimeout });
            await Expect(page.Locator("#health")).ToHaveAttributeAsync("data-status", "Healthy");
            if (Environment.GetEnvironmentVariable(ScreenshotVariable) is { Length: > 0 } path)
            {
                await page.SetViewportSizeAsync(1200, 860);
                await page.ScreenshotAsync(new() { Path = path, FullPage = true });
            }

            // Act: kick the victim.
            await page.Locator("#top-users tr[data-user='victim'] button.kick").ClickAsync();

            // Assert: every one of the victim's sockets is closed with 4003, the page says so, and the bystander stays.
            await Expect(page.Locator("#kick-status")).ToHaveTextAsync("Kicked victim: 5 connections on this node closed with 4003.", new() { Timeout = ChatPage.WaitTimeout });
            foreach (var socket in victims)
            {
                (await ChatClient.ReceiveCloseAsync(socket)).Should().Be(4003);

                // A kicked socket counts until the peer answers the close.
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
            }

            await Expect(page.Locator("#top-users tr[data-user='victim']")).ToHaveCountAsync(0, new() { Timeout = ChatPage.WaitTimeout });
            await Expect(chart).ToHaveAttributeAsync("data-connections", "1", new() { Timeout = ChatPage.WaitTimeout });
            bystanderSocket.State.Should().Be(WebSocketState.Open);
            problems.Should().BeEmpty();
        }
        finally
        {
            foreach (var socket in victims)
            {
                socket.Dispose();
            }
        }
    }

    [Fact]
    public async Task Dashboard_SignedInNonOperator_Refused403_AnonymousRefused401()
    {
        // Arrange
        await using var server = await ServerProcess.StartAsync(SampleServers.ChatServer($"--Dashboard:Operators={Operator}"));
        await using var user = await SignedInContextAsync(server.BaseUri, "mallory");
        await using var anonymous = await Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = server.BaseUri.ToString() });
        using var target = ChatClient.For(server.BaseUri);
        (await target.LoginAsync("target")).StatusCode.Should().Be(HttpStatusCode.Redirect);
        using var socket = await target.ConnectAsync();

        // Act
        // Through each context's own request API (its cookies): Chromium turns a refusal without a body into a navigation error.
        var page = await user.APIRequest.GetAsync(Dashboard);
        var data = await user.APIRequest.GetAsync(Dashboard + "/data");
        var kick = await user.APIRequest.PostAsync(Dashboard + "/kick", new() { Form = user.APIRequest.CreateFormData().Set("user", "target") });
        var anonymousPage = await anonymous.APIRequest.GetAsync(Dashboard);

        // Assert
        page.Status.Should().Be(403);
        data.Status.Should().Be(403);
        kick.Status.Should().Be(403);
        anonymousPage.Status.Should().Be(401);
        socket.State.Should().Be(WebSocketState.Open, "a refused kick closes nothing");
    }

    /// <summary>A browser context (its own cookie jar) signed in to the chat through <c>POST /login</c>, without opening the chat.</summary>
    private async Task<IBrowserContext> SignedInContextAsync(Uri server, string name)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = server.ToString() });
        var login = await context.APIRequest.PostAsync("/login", new() { Form = context.APIRequest.CreateFormData().Set("name", name), MaxRedirects = 0 });
        login.Status.Should().Be(302);
        return context;
    }

    /// <summary>Every script error, console error and Content-Security-Policy violation of the page.</summary>
    private static List<string> CollectProblems(IPage page)
    {
        var problems = new List<string>();
        page.PageError += (_, error) => { lock (problems) { problems.Add($"page error: {error}"); } };
        page.Response += (_, response) =>
        {
            if (response.Status >= 400)
            {
                lock (problems)
                {
                    problems.Add($"{response.Status} for {response.Url}");
                }
            }
        };
        page.Console += (_, message) =>
        {
            if (message.Type is "error" or "warning")
            {
                lock (problems)
                {
                    problems.Add($"console {message.Type}: {message.Text}");
                }
            }
        };
        return problems;
    }
}

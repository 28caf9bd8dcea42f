// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Playwright;
using WebSocketPool.BrowserTests.Infrastructure;
using static Microsoft.Playwright.Assertions;

namespace WebSocketPool.BrowserTests;

/// <summary>
/// The page's notifications panel (wwwroot/notify.js) in a real Chromium against the real server process: it opens the
/// second pool's socket once signed in, shows who joins the chat, and asks for the server's time.
/// </summary>
[Collection(SharedBrowser.Name)]
public sealed class ChatNotifyBrowserTests(BrowserFixture fixture)
{
    private IBrowser Browser => fixture.Browser;

    [Fact]
    public async Task Notifications_SignedIn_ShowsJoinsAndServerTimeOnDemand()
    {
        await using var server = await ServerProcess.StartAsync(SampleServers.ChatServer());
        var alice = await ChatPage.SignInAsync(Browser, server.BaseUri, "alice");
        ChatPage? bob = null;
        try
        {
            await Expect(alice.Page.Locator("#notify-status")).ToContainTextAsync("Notifications are on. (1 of 2", new() { Timeout = ChatPage.WaitTimeout });

            bob = await ChatPage.SignInAsync(Browser, server.BaseUri, "bob");
            await Expect(alice.Page.Locator("#notify-list > li", new() { HasText = "bob joined the chat" })).ToHaveCountAsync(1, new() { Timeout = ChatPage.WaitTimeout });

            await alice.Page.Locator("#notify-time").ClickAsync();
            await Expect(alice.Page.Locator("#notify-list > li", new() { HasText = "Server time:" })).ToHaveCountAsync(1, new() { Timeout = ChatPage.WaitTimeout });

            alice.Problems.Concat(bob.Problems).Should().BeEmpty();
        }
        finally
        {
            await alice.Page.Context.CloseAsync();
            if (bob is not null)
            {
                await bob.Page.Context.CloseAsync();
            }
        }
    }
}

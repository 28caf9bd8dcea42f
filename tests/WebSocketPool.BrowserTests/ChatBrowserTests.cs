// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Playwright;
using WebSocketPool.BrowserTests.Infrastructure;
using static Microsoft.Playwright.Assertions;

namespace WebSocketPool.BrowserTests;

/// <summary>
/// The chat sample in a real Chromium against the real server process: the page, the cookie login, the WebSocket
/// protocol and the pool's admission and close codes, end to end.
/// </summary>
[Collection(SharedBrowser.Name)]
public sealed class ChatBrowserTests(BrowserFixture fixture)
{
    private IBrowser Browser => fixture.Browser;

    [Fact]
    public async Task Chat_TwoUsers_ExchangeRoomAndDirectMessages()
    {
        await using var server = await ServerProcess.StartAsync(SampleServers.ChatServer());
        var alice = await ChatPage.SignInAsync(Browser, server.BaseUri, "alice");
        var bob = await ChatPage.SignInAsync(Browser, server.BaseUri, "bob");
        var carol = await ChatPage.SignInAsync(Browser, server.BaseUri, "carol");
        try
        {
            // Markup in a message is shown as text, never parsed.
            const string Greeting = "hi <b>all</b> & <img src=x onerror=alert(1)>";
            await alice.SendChatAsync(Greeting);
            foreach (var page in new[] { alice, bob, carol })
            {
                await Expect(page.Message("chat", Greeting).Locator(".from")).ToHaveTextAsync("alice", new() { Timeout = ChatPage.WaitTimeout });
                await Expect(page.Page.Locator("#messages b, #messages img")).ToHaveCountAsync(0);
            }

            await bob.SendDirectAsync("alice", "psst, alice");
            foreach (var page in new[] { alice, bob })
            {
                var dm = page.Message("dm", "psst, alice");
                await Expect(dm.Locator(".from")).ToHaveTextAsync("bob", new() { Timeout = ChatPage.WaitTimeout });
                await Expect(dm.Locator(".to")).ToHaveTextAsync("alice");
            }

            await alice.SendDirectAsync("bob", "hello bob");
            await Expect(bob.Message("dm", "hello bob").Locator(".from")).ToHaveTextAsync("alice", new() { Timeout = ChatPage.WaitTimeout });

            // bob's connection handles his messages in order, so once carol has his next room message, the DM would
            // have reached her before it if it had been sent to her.
            await bob.SendChatAsync("after the DMs");
            await Expect(carol.Message("chat", "after the DMs")).ToHaveCountAsync(1, new() { Timeout = ChatPage.WaitTimeout });
            await Expect(carol.Page.Locator("#messages > li.msg[data-type='dm']")).ToHaveCountAsync(0);

            // The at timestamps are ISO-8601 and rendered into <time datetime>.
            var at = await alice.Message("chat", Greeting).Locator("time").GetAttributeAsync("datetime");
            DateTimeOffset.TryParse(at, System.Globalization.CultureInfo.InvariantCulture, out _).Should().BeTrue(at);

            alice.Problems.Concat(bob.Problems).Concat(carol.Problems).Should().BeEmpty();
        }
        finally
        {
            await CloseAsync(alice, bob, carol);
        }
    }

    [Fact]
    public async Task Presence_UsersConnectAndDisconnect_ListUpdatesForEveryone()
    {
        await using var server = await ServerProcess.StartAsync(SampleServers.ChatServer());
        var alice = await ChatPage.SignInAsync(Browser, server.BaseUri, "alice");
        ChatPage? bob = null;
        try
        {
            await Expect(alice.PresenceCount("alice")).ToHaveTextAsync("1", new() { Timeout = ChatPage.WaitTimeout });

            bob = await ChatPage.SignInAsync(Browser, server.BaseUri, "bob");
            await Expect(alice.PresenceCount("bob")).ToHaveTextAsync("1", new() { Timeout = ChatPage.WaitTimeout });
            await Expect(bob.PresenceCount("alice")).ToHaveTextAsync("1", new() { Timeout = ChatPage.WaitTimeout });

            // A second tab of bob's (same cookie jar) counts as a second connection, for everyone and for bob.
            var bobSecondTab = await ChatPage.OpenAsync(bob.Page.Context);
            await bobSecondTab.ExpectStateAsync("open");
            await Expect(alice.PresenceCount("bob")).ToHaveTextAsync("2", new() { Timeout = ChatPage.WaitTimeout });
            await Expect(bob.Page.Locator("#my-connections")).ToHaveTextAsync("2 / 5", new() { Timeout = ChatPage.WaitTimeout });

            await bobSecondTab.Page.CloseAsync();
            await Expect(alice.PresenceCount("bob")).ToHaveTextAsync("1", new() { Timeout = ChatPage.WaitTimeout });
            await Expect(bob.Page.Locator("#my-connections")).ToHaveTextAsync("1 / 5", new() { Timeout = ChatPage.WaitTimeout });

            await bob.Page.Context.CloseAsync();
            await Expect(alice.PresenceEntry("bob")).ToHaveCountAsync(0, new() { Timeout = ChatPage.WaitTimeout });
            await Expect(alice.PresenceCount("alice")).ToHaveTextAsync("1");
            alice.Problems.Should().BeEmpty();
        }
        finally
        {
            await CloseAsync(alice);
        }
    }

    [Fact]
    public async Task Connect_TabsPastUserLimit_ExtraTabShowsRefusal()
    {
        await using var server = await ServerProcess.StartAsync(SampleServers.ChatServer("--WebSocketPool:MaxConnectionsPerUser=2"));
        var first = await ChatPage.SignInAsync(Browser, server.BaseUri, "alice");
        try
        {
            var second = await ChatPage.OpenAsync(first.Page.Context);
            await second.ExpectStateAsync("open");

            var third = await ChatPage.OpenAsync(first.Page.Context);

            // The page learns the reason from the admission preview: 429 with the limit and the user's count.
            await third.ExpectStateAsync("refused");
            await Expect(third.Status).ToHaveTextAsync("Refused: too many connections");
            await Expect(third.Banner).ToContainTextAsync("Too many open tabs or connections (2 / 2)");
            (await third.StateAsync<int>("limit")).Should().Be(2);

            // The refusal took nothing from the tabs already open.
            await first.ExpectStateAsync("open");
            await second.ExpectStateAsync("open");
            first.Problems.Concat(second.Problems).Concat(third.Problems).Should().BeEmpty();
        }
        finally
        {
            await CloseAsync(first);
        }
    }

    [Fact]
    public async Task Connect_TabsPastUserLimitWithEvictOldest_OldestTabShowsItWasReplaced()
    {
        await using var server = await ServerProcess.StartAsync(SampleServers.ChatServer(
            "--WebSocketPool:MaxConnectionsPerUser=2", "--WebSocketPool:OverflowPolicy=EvictOldest"));
        var first = await ChatPage.SignInAsync(Browser, server.BaseUri, "alice");
        try
        {
            var second = await ChatPage.OpenAsync(first.Page.Context);
            await second.ExpectStateAsync("open");

            var third = await ChatPage.OpenAsync(first.Page.Context);
            await third.ExpectStateAsync("open");

            await first.ExpectStateAsync("evicted");
            await Expect(first.Banner).ToContainTextAsync("opened in another tab or window");
            (await first.Page.EvaluateAsync<int>("() => window.chatState.lastClose.code")).Should().Be(4001);
            (await first.StateAsync<int>("reconnects")).Should().Be(0, "an evicted tab does not reconnect by itself");
            await second.ExpectStateAsync("open");
            first.Problems.Concat(second.Problems).Concat(third.Problems).Should().BeEmpty();
        }
        finally
        {
            await CloseAsync(first);
        }
    }

    [Fact]
    public async Task Server_StoppedAndStartedAgain_PageShowsReconnectingThenReconnects()
    {
        await using var server = await ServerProcess.StartAsync(SampleServers.ChatServer());
        var alice = await ChatPage.SignInAsync(Browser, server.BaseUri, "alice");
        try
        {
            var firstConnection = await alice.StateAsync<string>("connectionId");

            await server.StopAsync();
            await alice.ExpectStateAsync("reconnecting");

            await server.RestartAsync();
            await Expect(alice.Status).ToHaveAttributeAsync("data-state", "open", new() { Timeout = 60_000 });

            // Same cookie (the data-protection keys outlive the process), a new connection, and a fresh presence list.
            (await alice.StateAsync<string>("connectionId")).Should().NotBe(firstConnection);
            (await alice.StateAsync<int>("reconnects")).Should().BePositive();
            await Expect(alice.PresenceCount("alice")).ToHaveTextAsync("1", new() { Timeout = ChatPage.WaitTimeout });
            alice.Problems.Should().BeEmpty();
        }
        finally
        {
            await CloseAsync(alice);
        }
    }

    [Fact]
    public async Task Server_Crashed_PageReconnectsThroughTheClientThenStopsOnATerminalClose()
    {
        await using var server = await ServerProcess.StartAsync(SampleServers.ChatServer());
        var alice = await ChatPage.SignInAsync(Browser, server.BaseUri, "alice");
        try
        {
            // The page's connection is the WebSocketPool JavaScript client, served from the package's own source.
            (await alice.Page.EvaluateAsync<bool>(
                "() => performance.getEntriesByType('resource').some(e => new URL(e.name).pathname === '/lib/websocketpool-client/client.js')"))
                .Should().BeTrue("app.js imports the client from wwwroot/lib/websocketpool-client");
            var firstConnection = await alice.StateAsync<string>("connectionId");

            // A crash drops the socket without a close frame (1006, the backoff class): the client retries until the
            // server is back, then the page is connected again with a new connection.
            await server.KillAsync();
            await alice.ExpectStateAsync("reconnecting");
            (await alice.Page.EvaluateAsync<int>("() => window.chatState.lastClose.code")).Should().Be(1006);
            await server.RestartAsync();
            await Expect(alice.Status).ToHaveAttributeAsync("data-state", "open", new() { Timeout = 60_000 });
            (await alice.StateAsync<string>("connectionId")).Should().NotBe(firstConnection);
            var reconnects = await alice.StateAsync<int>("reconnects");
            reconnects.Should().BePositive();

            // A terminal close (4003, signed out from another tab): the client stops; no reconnect is scheduled.
            var other = await ChatPage.OpenAsync(alice.Page.Context);
            await other.ExpectStateAsync("open");
            await other.Page.Locator("#logout").ClickAsync();
            await alice.ExpectStateAsync("kicked");
            (await alice.Page.EvaluateAsync<int>("() => window.chatState.lastClose.code")).Should().Be(4003);
            await Expect(alice.Page.Locator("#login")).ToBeVisibleAsync();
            (await alice.StateAsync<int>("reconnects")).Should().Be(reconnects, "a terminal close is not retried");
            alice.Problems.Concat(other.Problems).Should().BeEmpty();
        }
        finally
        {
            await CloseAsync(alice);
        }
    }

    [Fact]
    public async Task Logout_InOneTab_OtherTabsAreSignedOutWith4003()
    {
        await using var server = await ServerProcess.StartAsync(SampleServers.ChatServer());
        var first = await ChatPage.SignInAsync(Browser, server.BaseUri, "alice");
        try
        {
            var second = await ChatPage.OpenAsync(first.Page.Context);
            await second.ExpectStateAsync("open");

            await first.Page.Locator("#logout").ClickAsync();

            await Expect(first.Page.Locator("#login")).ToBeVisibleAsync(new() { Timeout = ChatPage.WaitTimeout });
            await second.ExpectStateAsync("kicked");
            await Expect(second.Page.Locator("#login")).ToBeVisibleAsync();
            (await second.Page.EvaluateAsync<int>("() => window.chatState.lastClose.code")).Should().Be(4003);
            first.Problems.Concat(second.Problems).Should().BeEmpty();
        }
        finally
        {
            await CloseAsync(first);
        }
    }

    [Fact]
    public async Task CrossSiteForms_LoginAndLogout_RefusedWhileThePagesOwnStillWork()
    {
        await using var server = await ServerProcess.StartAsync(SampleServers.ChatServer());
        await using var attacker = await CrossSiteAttacker.StartAsync();
        var victim = await ChatPage.SignInAsync(Browser, server.BaseUri, "victim");
        try
        {
            // Another site, open in a tab of the victim's browser, auto-submits a sign-in under the attacker's name...
            var evil = await victim.Page.Context.NewPageAsync();
            await evil.GotoAsync(attacker.PostPage(new Uri(server.BaseUri, "/login"), "mallory"));
            await evil.WaitForURLAsync(server.BaseUri + "**", new() { Timeout = ChatPage.WaitTimeout });

            // ...which is refused: the victim is still themselves, and still connected.
            (await PreviewUserAsync(victim)).Should().Be("victim");
            (await evil.Locator("body").InnerTextAsync()).Should().Contain("antiforgery token");
            await victim.ExpectStateAsync("open");

            // A cross-site sign-out is refused too: the victim stays signed in and connected.
            await evil.GotoAsync(attacker.PostPage(new Uri(server.BaseUri, "/logout")));
            await evil.WaitForURLAsync(server.BaseUri + "**", new() { Timeout = ChatPage.WaitTimeout });
            (await PreviewUserAsync(victim)).Should().Be("victim");
            await victim.ExpectStateAsync("open");
            (await victim.Page.EvaluateAsync<bool>("() => window.chatState.lastClose === null")).Should().BeTrue("no socket of the victim was closed");
            await evil.CloseAsync();

            // The page's own sign-out and sign-in (which carry the token) still work.
            await victim.Page.Locator("#logout").ClickAsync();
            await Expect(victim.Page.Locator("#login")).ToBeVisibleAsync(new() { Timeout = ChatPage.WaitTimeout });
            (await PreviewUserAsync(victim)).Should().BeNull("signed out");
            await victim.LoginAsync("victim-again");
            (await PreviewUserAsync(victim)).Should().Be("victim-again");
            victim.Problems.Should().BeEmpty();
        }
        finally
        {
            await CloseAsync(victim);
        }
    }

    [Fact]
    public async Task Session_ExpiresWhileConnected_TabClosedWith4005AndAsksToSignInAgain()
    {
        // A session of six seconds (CloseOnAuthenticationExpiration is on in the shipped settings): the socket is closed
        // when the cookie it was opened with expires, and the page, finding the cookie expired too, asks for a sign-in.
        await using var server = await ServerProcess.StartAsync(SampleServers.ChatServer("--Chat:SessionLifetime=00:00:06"));
        var alice = await ChatPage.SignInAsync(Browser, server.BaseUri, "alice");
        try
        {
            await alice.ExpectStateAsync("expired");

            (await alice.Page.EvaluateAsync<int>("() => window.chatState.lastClose.code")).Should().Be(4005);
            await Expect(alice.Page.Locator("#login")).ToBeVisibleAsync();
            await Expect(alice.Banner).ToContainTextAsync("sign-in has expired");
            (await PreviewUserAsync(alice)).Should().BeNull("the cookie expired with the session");
            await alice.LoginAsync("alice");
            alice.Problems.Should().BeEmpty();
        }
        finally
        {
            await CloseAsync(alice);
        }
    }

    /// <summary>Who the chat's cookie in this browser signs in as, from the admission preview; null when signed out.</summary>
    private static Task<string?> PreviewUserAsync(ChatPage page) =>
        page.Page.EvaluateAsync<string?>("async () => { const r = await fetch('/ws', { cache: 'no-store' }); return r.ok ? (await r.json()).user : null; }");

    private static async Task CloseAsync(params ChatPage[] pages)
    {
        foreach (var page in pages)
        {
            await page.Page.Context.CloseAsync();
        }
    }
}

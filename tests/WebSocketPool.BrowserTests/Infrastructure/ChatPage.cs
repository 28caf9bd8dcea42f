// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Text.RegularExpressions;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace WebSocketPool.BrowserTests.Infrastructure;

/// <summary>
/// One tab of the chat page, driven through its real controls. Waits are Playwright's auto-retrying expectations with
/// a deadline; nothing sleeps. Script errors and Content-Security-Policy violations are collected so tests can prove
/// there were none.
/// </summary>
public sealed class ChatPage
{
    /// <summary>How long a page condition may take to become true (generous: the machine is shared).</summary>
    public const float WaitTimeout = 20_000;

    private readonly List<string> _problems = [];

    private ChatPage(IPage page)
    {
        Page = page;
        page.PageError += (_, error) => Record($"page error: {error}");
        page.Console += (_, message) =>
        {
            if (message.Text.Contains("Content Security Policy", StringComparison.OrdinalIgnoreCase))
            {
                Record($"CSP violation: {message.Text}");
            }
        };
    }

    public IPage Page { get; }

    public ILocator Status => Page.Locator("#status");

    public ILocator Banner => Page.Locator("#banner");

    public ILocator Messages => Page.Locator("#messages > li.msg");

    /// <summary>Gets the script errors and CSP violations seen so far.</summary>
    public IReadOnlyList<string> Problems
    {
        get
        {
            lock (_problems)
            {
                return [.. _problems];
            }
        }
    }

    /// <summary>Opens the page in a new tab of <paramref name="context"/> (whose BaseURL is the server).</summary>
    public static async Task<ChatPage> OpenAsync(IBrowserContext context)
    {
        var page = new ChatPage(await context.NewPageAsync());
        await page.Page.GotoAsync("/");
        return page;
    }

    /// <summary>Opens the page in a new context (a separate cookie jar: a separate person) and signs in.</summary>
    public static async Task<ChatPage> SignInAsync(IBrowser browser, Uri server, string name)
    {
        var context = await browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = server.ToString() });
        var page = await OpenAsync(context);
        await page.LoginAsync(name);
        return page;
    }

    /// <summary>Signs in through the login form and waits for the connection's hello.</summary>
    public async Task LoginAsync(string name)
    {
        await Expect(Page.Locator("#login")).ToBeVisibleAsync(new() { Timeout = WaitTimeout });
        await Page.Locator("#login-name").FillAsync(name);
        await Page.Locator("#login-submit").ClickAsync();
        await ExpectStateAsync("open");
    }

    /// <summary>Waits until the page's connection state (<c>#status[data-state]</c>) is <paramref name="state"/>.</summary>
    public Task ExpectStateAsync(string state) =>
        Expect(Status).ToHaveAttributeAsync("data-state", state, new() { Timeout = WaitTimeout });

    public async Task SendChatAsync(string text)
    {
        await Page.Locator("#chat-text").FillAsync(text);
        await Page.Locator("#chat-send").ClickAsync();
    }

    public async Task SendDirectAsync(string to, string text)
    {
        await Page.Locator("#dm-to").FillAsync(to);
        await Page.Locator("#dm-text").FillAsync(text);
        await Page.Locator("#dm-send").ClickAsync();
    }

    /// <summary>The room or direct messages (<paramref name="type"/> <c>chat</c> or <c>dm</c>) whose text is exactly <paramref name="text"/>.</summary>
    public ILocator Message(string type, string text) =>
        Page.Locator($"#messages > li.msg[data-type='{type}']")
            .Filter(new() { Has = Page.Locator("p.text").Filter(new() { HasTextRegex = new Regex("^" + Regex.Escape(text) + "$") }) });

    /// <summary>The connection count shown for <paramref name="user"/> in the presence list.</summary>
    public ILocator PresenceCount(string user) => PresenceEntry(user).Locator(".count");

    public ILocator PresenceEntry(string user) => Page.Locator($"#presence > li[data-user='{user}']");

    /// <summary>Reads a field of <c>window.chatState</c>.</summary>
    public Task<T> StateAsync<T>(string field) => Page.EvaluateAsync<T>($"() => window.chatState.{field}");

    private void Record(string problem)
    {
        lock (_problems)
        {
            _problems.Add(problem);
        }
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Playwright;

namespace WebSocketPool.BrowserTests.Infrastructure;

/// <summary>
/// One headless Debian Chromium for all browser tests, driven by Playwright. Playwright's own browser download is never
/// used (it cannot work here); a missing <c>/usr/bin/chromium</c> fails the tests with a message that says what to do.
/// Each test opens its own browser contexts (separate cookie jars), one per user.
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    public const string ChromiumPath = "/usr/bin/chromium";

    private IPlaywright? _playwright;
    private IBrowser? _browser;

    public IBrowser Browser => _browser ?? throw new InvalidOperationException("The browser is not running.");

    public async Task InitializeAsync()
    {
        if (!File.Exists(ChromiumPath))
        {
            throw new InvalidOperationException(
                $"Chromium was not found at {ChromiumPath}. The browser tests drive Debian's chromium package: install it with 'apt-get install -y chromium'.");
        }

        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            // Playwright starts the browser with a new temporary profile (user-data-dir) and deletes it on close.
            Args =
            [
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        });
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.CloseAsync();
        }

        _playwright?.Dispose();
    }
}

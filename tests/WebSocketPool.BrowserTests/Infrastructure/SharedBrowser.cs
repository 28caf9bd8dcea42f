// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.BrowserTests.Infrastructure;

/// <summary>The browser tests share one Chromium.</summary>
[CollectionDefinition(Name)]
public sealed class SharedBrowser : ICollectionFixture<BrowserFixture>
{
    public const string Name = "Browser";
}

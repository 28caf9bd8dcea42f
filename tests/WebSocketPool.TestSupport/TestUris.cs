// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.TestSupport;

/// <summary>The WebSocket address of a test server, for a user named in the <c>user</c> query parameter.</summary>
public static class TestUris
{
    /// <summary>Gets <c>ws://host:port/ws?user=…</c> for <paramref name="baseUri"/>.</summary>
    public static Uri WebSocketUri(this Uri baseUri, string user, string path = "/ws") =>
        new UriBuilder(baseUri) { Scheme = "ws", Path = path, Query = "user=" + Uri.EscapeDataString(user) }.Uri;
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace LoadHarness.Server;

/// <summary>The three servers under comparison, chosen by the first command-line argument.</summary>
internal enum ServerMode
{
    /// <summary>A hand-written Kestrel WebSocket handler: zero-byte read while idle, then a buffer from ArrayPool.</summary>
    Bare,

    /// <summary>
    /// The fair fan-out baseline: bare Kestrel with a bounded send queue and one writer per connection, as the pool has,
    /// so that send-to-user and broadcast queue instead of awaiting each socket's send in turn.
    /// </summary>
    BareQueued,

    /// <summary>A SignalR hub doing the same work over the JSON hub protocol.</summary>
    SignalR,

    /// <summary>WebSocketPool with an echo handler and a query-string user key.</summary>
    Pool,
}

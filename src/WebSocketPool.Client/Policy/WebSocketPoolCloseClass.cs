// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Client;

/// <summary>What the client does after a connection ends or an attempt is refused.</summary>
public enum WebSocketPoolCloseClass
{
    /// <summary>
    /// Stop for good and report why: 4001 (evicted), 4003 (kicked), 1002, 1007, 1009, 1000 from the server, a refusal
    /// with 401 or 403, or the application's own <see cref="WebSocketPoolClient.StopAsync"/>.
    /// </summary>
    Terminal = 0,

    /// <summary>
    /// Reconnect after an exponential backoff with full jitter: 1006 (no close frame), 1008, 1011, 1013, 4002, a refusal
    /// with 429 or 503 (waiting at least its <c>Retry-After</c>), a connection that could not be made, and every code or
    /// status the table does not name.
    /// </summary>
    Backoff = 1,

    /// <summary>
    /// Reconnect after a short jittered delay: 1001 (server draining), 1012 (service restart), 4004 (resume refused), so
    /// the clients of a drained node do not all arrive at once.
    /// </summary>
    Prompt = 2,
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.ComponentModel.DataAnnotations;

namespace WebSocketPool;

/// <summary>
/// Resume after a dropped connection for one pool, bound from <c>WebSocketPool:Resume</c>. A client that offers the
/// <c>websocketpool.resume.v1</c> subprotocol gets sequenced messages and, when its socket drops, a session held for
/// <see cref="Window"/> that it can reconnect into with the missed messages replayed. The wire protocol is specified in
/// <c>docs/resume-protocol.md</c>; a client that does not offer it is served unchanged.
/// </summary>
public sealed class WebSocketResumeOptions
{
    /// <summary>
    /// Gets or sets a value indicating whether the pool speaks the resume protocol. A held session keeps its slot, so it
    /// counts against the user's limit and the pool's cap until it is resumed or its window ends.
    /// </summary>
    /// <value>The default is <see langword="false"/>.</value>
    public bool Enabled { get; set; }

    /// <summary>
    /// Gets or sets how long the session of a connection that ended abnormally (a dropped socket, a keep-alive timeout)
    /// is held for the client to resume it. Not resumed by then, it ends like any connection, with
    /// <see cref="WebSocketHandler.OnDisconnectedAsync"/>.
    /// </summary>
    /// <value>The default is 2 minutes.</value>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan Window { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Gets or sets the most payload bytes of sent, unacknowledged messages one connection keeps for a replay. A session
    /// whose unacknowledged messages would exceed it cannot be resumed (a held one ends at once).
    /// </summary>
    /// <value>The default is 64 KiB.</value>
    [Range(1024, 64 * 1024 * 1024)]
    public int BufferBytes { get; set; } = 64 * 1024;
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using WebSocketPool;

namespace LoadHarness.Server.Pool;

/// <summary>
/// The pool server's handler: echoes like samples/EchoServer (the payload is lent for the callback only, so the echo
/// queues a copy), and notes the end of tagged connections, which the pool reports after the lease is released. The tag
/// is read from the connection's own query, as the bare server reads it from its request: no IHttpContextAccessor, whose
/// async-local holder every connection would otherwise keep.
/// </summary>
internal sealed class PoolEchoHandler(ReleaseLog releases) : WebSocketHandler
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _tags = new(StringComparer.Ordinal);

    public override ValueTask OnConnectedAsync(WebSocketConnection connection, CancellationToken cancellationToken)
    {
        if (ReleaseLog.TagOf(connection.Query) is { } tag)
        {
            _tags[connection.ConnectionId] = tag;
        }

        return default;
    }

    public override ValueTask OnMessageAsync(WebSocketConnection connection, WebSocketMessage message, CancellationToken cancellationToken)
    {
        connection.Send(message.Payload.ToArray(), message.MessageType);
        return default;
    }

    public override ValueTask OnDisconnectedAsync(WebSocketConnection connection, WebSocketDisconnect disconnect)
    {
        if (_tags.TryRemove(connection.ConnectionId, out var tag))
        {
            releases.Record(tag);
        }

        return default;
    }
}

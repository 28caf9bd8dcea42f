// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;

namespace WebSocketPool.IntegrationTests.Messaging;

/// <summary>Echoes text and records how every connection ended, by connection id.</summary>
public class RecordingHandler : WebSocketHandler
{
    public ConcurrentDictionary<string, WebSocketDisconnect> Disconnects { get; } = new(StringComparer.Ordinal);

    public override ValueTask OnMessageAsync(WebSocketConnection connection, WebSocketMessage message, CancellationToken cancellationToken)
    {
        connection.Send(message.Payload.ToArray(), message.MessageType);
        return default;
    }

    public override ValueTask OnDisconnectedAsync(WebSocketConnection connection, WebSocketDisconnect disconnect)
    {
        Disconnects[connection.ConnectionId] = disconnect;
        return default;
    }
}

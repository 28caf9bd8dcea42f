// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;

namespace WebSocketPool.IntegrationTests.Infrastructure;

/// <summary>
/// Echoes every message; throws on the text <c>boom</c> (before returning a task), faults its task on
/// <c>boom-async</c>, and throws on connect for the user <c>throw-on-connect</c>; it records every connection handle and every disconnect so
/// that tests can check how (and whether) each connection ended.
/// </summary>
internal sealed class CoreTestHandler : WebSocketHandler
{
    public const string Boom = "boom";
    public const string AsyncBoom = "boom-async";
    public const string ThrowOnConnectUser = "throw-on-connect";

    public ConcurrentQueue<WebSocketConnection> Connected { get; } = new();

    public ConcurrentQueue<(WebSocketConnection Connection, WebSocketDisconnect Disconnect)> Disconnected { get; } = new();

    public override ValueTask OnConnectedAsync(WebSocketConnection connection, CancellationToken cancellationToken)
    {
        Connected.Enqueue(connection);
        if (connection.UserKey == ThrowOnConnectUser)
        {
            throw new InvalidOperationException("The handler failed on connect on purpose.");
        }

        return default;
    }

    public override ValueTask OnMessageAsync(WebSocketConnection connection, WebSocketMessage message, CancellationToken cancellationToken)
    {
        if (message.IsText && message.GetText() == Boom)
        {
            throw new InvalidOperationException("The handler failed on purpose.");
        }

        if (message.IsText && message.GetText() == AsyncBoom)
        {
            return FailLaterAsync();
        }

        connection.Send(message.Payload.ToArray(), message.MessageType);
        return default;
    }

    public override ValueTask OnDisconnectedAsync(WebSocketConnection connection, WebSocketDisconnect disconnect)
    {
        Disconnected.Enqueue((connection, disconnect));
        return default;
    }

    private static async ValueTask FailLaterAsync()
    {
        await Task.Yield();
        throw new InvalidOperationException("The handler's task faulted on purpose.");
    }

    public WebSocketDisconnect? DisconnectOf(string userKey) =>
        Disconnected.Where(d => d.Connection.UserKey == userKey).Select(d => d.Disconnect).LastOrDefault();
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;

namespace WebSocketPool.IntegrationTests.Connections;

/// <summary>
/// Echoes every message; leaves a mark in <see cref="WebSocketConnection.Items"/> on connect and records what
/// <see cref="OnDisconnectedAsync"/> finds there (or the exception reading it threw). For users whose key starts with
/// <see cref="ThrowOnDisconnectPrefix"/>, <see cref="OnDisconnectedAsync"/> throws after recording.
/// </summary>
internal sealed class LifecycleProbeHandler : WebSocketHandler
{
    public const string ItemKey = "probe";
    public const string ThrowOnDisconnectPrefix = "throw-on-disconnect";

    private int _disconnects;

    public ConcurrentQueue<WebSocketConnection> Connected { get; } = new();

    /// <summary>Gets, by connection id, what <see cref="OnDisconnectedAsync"/> read from the items bag.</summary>
    public ConcurrentDictionary<string, string> ItemsAtDisconnect { get; } = new(StringComparer.Ordinal);

    public int Disconnects => Volatile.Read(ref _disconnects);

    public static string MarkOf(string connectionId) => "set-by-" + connectionId;

    public WebSocketConnection? ConnectionOf(string userKey) =>
        Connected.Where(c => c.UserKey == userKey).Select(c => (WebSocketConnection?)c).LastOrDefault();

    public override ValueTask OnConnectedAsync(WebSocketConnection connection, CancellationToken cancellationToken)
    {
        connection.Items[ItemKey] = MarkOf(connection.ConnectionId);
        Connected.Enqueue(connection);
        return default;
    }

    public override ValueTask OnMessageAsync(WebSocketConnection connection, WebSocketMessage message, CancellationToken cancellationToken)
    {
        connection.Send(message.Payload.ToArray(), message.MessageType);
        return default;
    }

    public override ValueTask OnDisconnectedAsync(WebSocketConnection connection, WebSocketDisconnect disconnect)
    {
        string seen;
        try
        {
            seen = connection.Items.TryGetValue(ItemKey, out var value) ? value as string ?? "(not a string)" : "(missing)";
        }
        catch (InvalidOperationException ex)
        {
            seen = $"threw {ex.GetType().Name}: {ex.Message}";
        }

        ItemsAtDisconnect[connection.ConnectionId] = seen;
        Interlocked.Increment(ref _disconnects);
        if (connection.UserKey.StartsWith(ThrowOnDisconnectPrefix, StringComparison.Ordinal))
        {
            throw new InvalidOperationException("OnDisconnectedAsync failed on purpose.");
        }

        return default;
    }
}

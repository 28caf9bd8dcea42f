// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;

namespace WebSocketPool.Internal;

/// <summary>
/// The sender a named pool's keyed service gives (<c>[FromKeyedServices("notify")] IWebSocketSender</c>). It finds the
/// pool at its first send, not when it is injected: handlers are created when their own pool is mapped, and a chat
/// handler that notifies through the <c>notify</c> pool must not depend on which of the two was mapped first. A name
/// that no pool has by then fails that send with an <see cref="InvalidOperationException"/> listing the pools.
/// </summary>
internal sealed class NamedPoolSender(WebSocketPoolRegistry pools, string name) : IWebSocketSender
{
    private IWebSocketSender? _sender;

    private IWebSocketSender Sender => _sender ??= pools.Get(name).Sender;

    public ValueTask<SendResult> SendToConnectionAsync(string connectionId, ReadOnlyMemory<byte> payload, WebSocketMessageType messageType, CancellationToken cancellationToken = default) =>
        Sender.SendToConnectionAsync(connectionId, payload, messageType, cancellationToken);

    public ValueTask<int> SendToUserAsync(string userKey, ReadOnlyMemory<byte> payload, WebSocketMessageType messageType, CancellationToken cancellationToken = default) =>
        Sender.SendToUserAsync(userKey, payload, messageType, cancellationToken);

    public ValueTask<int> SendToGroupAsync(string group, ReadOnlyMemory<byte> payload, WebSocketMessageType messageType, CancellationToken cancellationToken = default) =>
        Sender.SendToGroupAsync(group, payload, messageType, cancellationToken);

    public ValueTask<int> SendToAllAsync(ReadOnlyMemory<byte> payload, WebSocketMessageType messageType, CancellationToken cancellationToken = default) =>
        Sender.SendToAllAsync(payload, messageType, cancellationToken);

    public ValueTask<bool> AddToGroupAsync(string connectionId, string group, CancellationToken cancellationToken = default) =>
        Sender.AddToGroupAsync(connectionId, group, cancellationToken);

    public ValueTask<bool> RemoveFromGroupAsync(string connectionId, string group, CancellationToken cancellationToken = default) =>
        Sender.RemoveFromGroupAsync(connectionId, group, cancellationToken);

    public ValueTask<int> DisconnectUserAsync(string userKey, int closeCode = WebSocketCloseCodes.Kicked, string? reason = null, CancellationToken cancellationToken = default) =>
        Sender.DisconnectUserAsync(userKey, closeCode, reason, cancellationToken);

    public ValueTask<bool> DisconnectConnectionAsync(string connectionId, int closeCode = WebSocketCloseCodes.Kicked, string? reason = null, CancellationToken cancellationToken = default) =>
        Sender.DisconnectConnectionAsync(connectionId, closeCode, reason, cancellationToken);
}

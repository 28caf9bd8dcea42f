// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using System.Text;

namespace WebSocketPool;

/// <summary>
/// One complete incoming message. Its <see cref="Payload"/> is lent from a pooled buffer and is valid only until the
/// handler callback that received it returns (or its returned task completes); copy what you keep.
/// </summary>
public readonly struct WebSocketMessage
{
    /// <summary>Initializes a new instance of the <see cref="WebSocketMessage"/> struct.</summary>
    /// <param name="messageType">Text or binary.</param>
    /// <param name="payload">The message bytes.</param>
    public WebSocketMessage(WebSocketMessageType messageType, ReadOnlyMemory<byte> payload)
    {
        MessageType = messageType;
        Payload = payload;
    }

    /// <summary>Gets the message type, text or binary.</summary>
    public WebSocketMessageType MessageType { get; }

    /// <summary>Gets a value indicating whether the message is text.</summary>
    public bool IsText => MessageType == WebSocketMessageType.Text;

    /// <summary>Gets the message bytes, valid only during the callback.</summary>
    public ReadOnlyMemory<byte> Payload { get; }

    /// <summary>Decodes the payload as UTF-8 into a new string, which may be kept.</summary>
    /// <returns>The text of the message.</returns>
    public string GetText() => Encoding.UTF8.GetString(Payload.Span);
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using System.Text;

namespace WebSocketPool.Client;

/// <summary>
/// One whole message received from the server. It owns its payload: the memory is the message's own, not lent from a
/// pool, so it is yours to keep, store or hand to another thread for as long as you like.
/// </summary>
public sealed class WebSocketPoolClientMessage
{
    /// <summary>Initializes a new instance of the <see cref="WebSocketPoolClientMessage"/> class.</summary>
    /// <param name="payload">The payload, which the message keeps (it is not copied).</param>
    /// <param name="messageType">Text or binary.</param>
    public WebSocketPoolClientMessage(ReadOnlyMemory<byte> payload, WebSocketMessageType messageType)
    {
        if (messageType is not (WebSocketMessageType.Text or WebSocketMessageType.Binary))
        {
            throw new ArgumentOutOfRangeException(nameof(messageType), messageType, "A message is text or binary.");
        }

        Payload = payload;
        MessageType = messageType;
    }

    /// <summary>Gets the payload (UTF-8 for a text message).</summary>
    public ReadOnlyMemory<byte> Payload { get; }

    /// <summary>Gets whether the message is text or binary.</summary>
    public WebSocketMessageType MessageType { get; }

    /// <summary>Gets a value indicating whether the message is text.</summary>
    public bool IsText => MessageType == WebSocketMessageType.Text;

    /// <summary>Decodes the payload as UTF-8.</summary>
    /// <returns>The text.</returns>
    public string GetText() => Encoding.UTF8.GetString(Payload.Span);

    /// <inheritdoc/>
    public override string ToString() => $"{MessageType} message, {Payload.Length} bytes";
}

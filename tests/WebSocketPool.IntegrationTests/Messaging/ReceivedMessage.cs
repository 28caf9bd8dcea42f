// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using System.Text;

namespace WebSocketPool.IntegrationTests.Messaging;

/// <summary>One whole message (or the close frame) as the client received it.</summary>
internal sealed record ReceivedMessage(WebSocketMessageType Type, byte[] Payload, int? CloseStatus, string? CloseDescription)
{
    public bool IsClose => Type == WebSocketMessageType.Close;

    public string Text => Encoding.UTF8.GetString(Payload);
}

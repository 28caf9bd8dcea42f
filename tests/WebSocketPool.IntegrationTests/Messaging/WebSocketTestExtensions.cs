// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using System.Text;

namespace WebSocketPool.IntegrationTests.Messaging;

/// <summary>Reading whole messages on the client side, always with a deadline.</summary>
internal static class WebSocketTestExtensions
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    /// <summary>Receives one whole message; a close frame comes back as <see cref="ReceivedMessage.IsClose"/>.</summary>
    public static async Task<ReceivedMessage> ReceiveMessageAsync(this WebSocket socket, TimeSpan? deadline = null)
    {
        using var cts = new CancellationTokenSource(deadline ?? Deadline);
        var buffer = new byte[16 * 1024];
        using var payload = new MemoryStream();
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer.AsMemory(), cts.Token);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return new ReceivedMessage(WebSocketMessageType.Close, [], (int?)socket.CloseStatus, socket.CloseStatusDescription);
            }

            payload.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                return new ReceivedMessage(result.MessageType, payload.ToArray(), null, null);
            }
        }
    }

    public static async Task<string> ReceiveTextAsync(this WebSocket socket, TimeSpan? deadline = null)
    {
        var message = await socket.ReceiveMessageAsync(deadline);
        message.IsClose.Should().BeFalse($"a text message was expected, not a close ({message.CloseStatus})");
        message.Type.Should().Be(WebSocketMessageType.Text);
        return message.Text;
    }

    public static Task SendTextAsync(this WebSocket socket, string text) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None);

    /// <summary>
    /// Receives until a close frame arrives (at most <paramref name="maxMessages"/> messages before it) and answers it, as a
    /// well-behaved client does, so that the server's closing handshake completes.
    /// </summary>
    public static async Task<ReceivedMessage> ReceiveCloseAsync(this WebSocket socket, int maxMessages = 10_000, TimeSpan? deadline = null)
    {
        for (var i = 0; i <= maxMessages; i++)
        {
            var message = await socket.ReceiveMessageAsync(deadline);
            if (message.IsClose)
            {
                if (socket.State == WebSocketState.CloseReceived)
                {
                    using var cts = new CancellationTokenSource(deadline ?? Deadline);
                    await socket.CloseOutputAsync(socket.CloseStatus ?? WebSocketCloseStatus.NormalClosure, null, cts.Token);
                }

                return message;
            }
        }

        throw new InvalidOperationException($"No close frame within {maxMessages} messages.");
    }
}

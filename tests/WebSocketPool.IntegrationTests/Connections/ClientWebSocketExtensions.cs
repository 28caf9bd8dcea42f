// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using System.Text;

namespace WebSocketPool.IntegrationTests.Connections;

/// <summary>Sends and receives text on a <see cref="ClientWebSocket"/>, and reads the server's close frame, with a deadline.</summary>
internal static class ClientWebSocketExtensions
{
    public static TimeSpan Deadline { get; } = TimeSpan.FromSeconds(10);

    public static Task SendTextAsync(this ClientWebSocket client, string text) =>
        client.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None);

    /// <summary>Receives the next whole message as text; fails if the server closes instead.</summary>
    public static async Task<string> ReceiveTextAsync(this ClientWebSocket client)
    {
        using var timeout = new CancellationTokenSource(Deadline);
        var buffer = new byte[64 * 1024];
        var length = 0;
        while (true)
        {
            var result = await client.ReceiveAsync(buffer.AsMemory(length), timeout.Token);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                throw new InvalidOperationException($"Expected a message, got close {(int?)client.CloseStatus}.");
            }

            length += result.Count;
            if (result.EndOfMessage)
            {
                return Encoding.UTF8.GetString(buffer, 0, length);
            }
        }
    }

    /// <summary>
    /// Reads until the server's close frame (skipping at most 1,000 messages), answers it, and returns its close code.
    /// </summary>
    public static async Task<int?> ReceiveCloseAsync(this ClientWebSocket client)
    {
        using var timeout = new CancellationTokenSource(Deadline);
        var buffer = new byte[64 * 1024];
        for (var i = 0; i < 1_000; i++)
        {
            var result = await client.ReceiveAsync(buffer, timeout.Token);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                if (client.State == WebSocketState.CloseReceived)
                {
                    await client.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token);
                }

                return (int?)result.CloseStatus;
            }
        }

        throw new InvalidOperationException("No close frame within 1,000 messages.");
    }
}

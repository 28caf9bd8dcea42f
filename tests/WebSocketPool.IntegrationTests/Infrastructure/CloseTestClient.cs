// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;

namespace WebSocketPool.IntegrationTests.Infrastructure;

/// <summary>Handshakes whose refusal status a test needs, and reading a close frame with a deadline that names itself.</summary>
internal static class CloseTestClient
{
    /// <summary>
    /// Attempts the upgrade for <paramref name="user"/>. Returns the open client and 101, or no client and the status the
    /// server refused with (0 when the connection ended without any HTTP answer).
    /// </summary>
    public static async Task<(ClientWebSocket? Client, int Status)> TryConnectAsync(PoolTestServer server, string user, CancellationToken cancellationToken = default)
    {
        var client = new ClientWebSocket();
        client.Options.KeepAliveInterval = TimeSpan.Zero;
        client.Options.CollectHttpResponseDetails = true;
        try
        {
            await client.ConnectAsync(server.WebSocketUri(user), cancellationToken);
            return (client, (int)client.HttpStatusCode);
        }
        catch (Exception ex) when (ex is WebSocketException or HttpRequestException or IOException)
        {
            var status = (int)client.HttpStatusCode;
            client.Dispose();
            return (null, status);
        }
    }

    /// <summary>
    /// Reads until the server's close frame (skipping at most 1,000 messages), answers it, and returns its code; fails
    /// with a <see cref="TimeoutException"/> that says so when no close frame arrives within <paramref name="deadline"/>.
    /// </summary>
    public static async Task<int?> ReceiveCloseStatusAsync(this WebSocket client, TimeSpan deadline)
    {
        using var cts = new CancellationTokenSource(deadline);
        var buffer = new byte[16 * 1024];
        try
        {
            for (var i = 0; i < 1_000; i++)
            {
                var result = await client.ReceiveAsync(buffer.AsMemory(), cts.Token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    if (client.State == WebSocketState.CloseReceived)
                    {
                        await client.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, cts.Token);
                    }

                    return (int?)client.CloseStatus;
                }
            }
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"The server sent no close frame within {deadline.TotalSeconds:F0} s.");
        }

        throw new InvalidOperationException("No close frame within 1,000 messages.");
    }
}

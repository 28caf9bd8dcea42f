// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using System.Text;

namespace WebSocketPool.Redis.Tests.Infrastructure;

/// <summary>WebSocket client helpers: connect, learn a refusal's HTTP status, send and receive text with deadlines.</summary>
public static class Clients
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    /// <summary>Connects, sending <paramref name="cookie"/> (<c>name=value</c>) as a <c>Cookie</c> header when given.</summary>
    public static async Task<ClientWebSocket> ConnectAsync(Uri uri, string? cookie = null)
    {
        var client = Create(cookie);
        using var timeout = new CancellationTokenSource(Deadline);
        await client.ConnectAsync(uri, timeout.Token);
        return client;
    }

    /// <summary>Tries to connect; returns 101 (and closes the socket) when admitted, else the refusal's HTTP status.</summary>
    public static async Task<int> TryConnectStatusAsync(Uri uri, string? cookie = null)
    {
        using var client = Create(cookie);
        using var timeout = new CancellationTokenSource(Deadline);
        try
        {
            await client.ConnectAsync(uri, timeout.Token);
        }
        catch (WebSocketException)
        {
            return (int)client.HttpStatusCode;
        }

        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token);
        return 101;
    }

    public static Task SendTextAsync(this WebSocket socket, string text) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);

    /// <summary>Receives the next text message, failing after the deadline.</summary>
    public static async Task<string> ReceiveTextAsync(this WebSocket socket, TimeSpan? deadline = null)
    {
        using var timeout = new CancellationTokenSource(deadline ?? Deadline);
        var buffer = new byte[4096];
        using var message = new MemoryStream();
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer, timeout.Token);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                throw new WebSocketException($"Closed with {(int?)result.CloseStatus} while a text message was expected.");
            }

            message.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                return Encoding.UTF8.GetString(message.ToArray());
            }
        }
    }

    /// <summary>Reads until the server's close frame and returns its code.</summary>
    public static Task<int?> ReceiveCloseAsync(this WebSocket socket) => socket.ReceiveCloseAsync(Deadline);

    /// <summary>Reads until the server's close frame and returns its code; the socket is aborted after <paramref name="deadline"/>.</summary>
    public static async Task<int?> ReceiveCloseAsync(this WebSocket socket, TimeSpan deadline)
    {
        using var timeout = new CancellationTokenSource(deadline);
        var buffer = new byte[4096];
        for (var i = 0; i < 1000; i++)
        {
            var result = await socket.ReceiveAsync(buffer, timeout.Token);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return (int?)result.CloseStatus;
            }
        }

        throw new InvalidOperationException("No close frame within 1000 messages.");
    }

    public static async Task CloseQuietlyAsync(this WebSocket socket)
    {
        if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
        {
            using var timeout = new CancellationTokenSource(Deadline);
            try
            {
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token);
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
            {
                socket.Abort();
            }
        }

        socket.Dispose();
    }

    private static ClientWebSocket Create(string? cookie)
    {
        var client = new ClientWebSocket();
        client.Options.KeepAliveInterval = TimeSpan.Zero;
        client.Options.CollectHttpResponseDetails = true;
        if (cookie is not null)
        {
            client.Options.SetRequestHeader("Cookie", cookie);
        }

        return client;
    }
}

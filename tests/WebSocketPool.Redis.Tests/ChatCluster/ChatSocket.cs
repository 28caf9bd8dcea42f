// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using System.Net.WebSockets;
using System.Text.Json;
using WebSocketPool.Redis.Tests.Infrastructure;

namespace WebSocketPool.Redis.Tests.ChatCluster;

/// <summary>Reads the chat protocol's JSON messages from a WebSocket, with deadlines.</summary>
public static class ChatSocket
{
    public static Task SendChatAsync(this WebSocket socket, string text) =>
        socket.SendTextAsync(JsonSerializer.Serialize(new { type = "chat", text }));

    public static Task SendDirectAsync(this WebSocket socket, string to, string text) =>
        socket.SendTextAsync(JsonSerializer.Serialize(new { type = "dm", to, text }));

    /// <summary>Receives the next message, whatever it is.</summary>
    public static async Task<JsonElement> ReceiveJsonAsync(this WebSocket socket, TimeSpan? deadline = null)
    {
        using var document = JsonDocument.Parse(await socket.ReceiveTextAsync(deadline));
        return document.RootElement.Clone();
    }

    /// <summary>
    /// Receives messages until one matches (skipping others, e.g. presence updates), and fails after the deadline or on
    /// an <c>error</c> message that does not match.
    /// </summary>
    public static async Task<JsonElement> ReceiveUntilAsync(this WebSocket socket, Func<JsonElement, bool> match, string because, TimeSpan? deadline = null)
    {
        var limit = deadline ?? Clients.Deadline;
        var started = Stopwatch.StartNew();
        var seen = new List<string>();
        for (var i = 0; i < 1000; i++)
        {
            var left = limit - started.Elapsed;
            JsonElement message;
            try
            {
                message = await socket.ReceiveJsonAsync(left > TimeSpan.Zero ? left : TimeSpan.FromMilliseconds(1));
            }
            catch (OperationCanceledException ex)
            {
                throw new TimeoutException($"No message within {limit.TotalSeconds:F1} s: {because}. Seen: {string.Join(" | ", seen)}", ex);
            }

            if (match(message))
            {
                return message;
            }

            seen.Add(message.GetRawText());
            if (message.GetProperty("type").GetString() == "error")
            {
                throw new InvalidOperationException($"Unexpected error message while waiting: {because}. Seen: {string.Join(" | ", seen)}");
            }
        }

        throw new InvalidOperationException($"No matching message among the next 1000: {because}.");
    }

    public static Func<JsonElement, bool> OfType(string type) =>
        message => message.GetProperty("type").GetString() == type;

    /// <summary>Matches a presence message listing exactly these users with these connection counts.</summary>
    public static Func<JsonElement, bool> PresenceOf(params (string Name, int Connections)[] users) =>
        message => message.GetProperty("type").GetString() == "presence"
            && message.GetProperty("users").EnumerateArray()
                .Select(u => (u.GetProperty("name").GetString()!, u.GetProperty("connections").GetInt32()))
                .SequenceEqual(users);
}

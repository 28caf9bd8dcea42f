// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using System.Net.WebSockets;
using System.Runtime.CompilerServices;
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

    // What each socket's page would show: its last full presence list with every delta since applied.
    private static readonly ConditionalWeakTable<WebSocket, SortedDictionary<string, int>> s_presence = [];

    /// <summary>Receives the next message, whatever it is; presence messages also update the socket's presence view.</summary>
    public static async Task<JsonElement> ReceiveJsonAsync(this WebSocket socket, TimeSpan? deadline = null)
    {
        using var document = JsonDocument.Parse(await socket.ReceiveTextAsync(deadline));
        var message = document.RootElement.Clone();
        Track(socket, message);
        return message;
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

    /// <summary>
    /// Receives until the socket's presence view (its full list with the deltas since applied, as the page keeps it) lists
    /// exactly these users with these connection counts, in name order.
    /// </summary>
    public static async Task WaitForPresenceAsync(this WebSocket socket, string because, TimeSpan? deadline, params (string Name, int Connections)[] users)
    {
        if (Shows(socket, users))
        {
            return;
        }

        await socket.ReceiveUntilAsync(message => message.GetProperty("type").GetString() is "presence" or "presence_delta" && Shows(socket, users), because, deadline);
    }

    /// <inheritdoc cref="WaitForPresenceAsync(WebSocket, string, TimeSpan?, ValueTuple{string, int}[])"/>
    public static Task WaitForPresenceAsync(this WebSocket socket, string because, params (string Name, int Connections)[] users) =>
        socket.WaitForPresenceAsync(because, null, users);

    private static bool Shows(WebSocket socket, (string Name, int Connections)[] users) =>
        s_presence.TryGetValue(socket, out var view) && view.Select(p => (p.Key, p.Value)).SequenceEqual(users);

    private static void Track(WebSocket socket, JsonElement message)
    {
        var type = message.GetProperty("type").GetString();
        if (type is not ("presence" or "presence_delta"))
        {
            return;
        }

        var view = s_presence.GetValue(socket, static _ => new SortedDictionary<string, int>(StringComparer.Ordinal));
        if (type == "presence")
        {
            view.Clear();
        }

        foreach (var user in message.GetProperty("users").EnumerateArray())
        {
            var name = user.GetProperty("name").GetString()!;
            var connections = user.GetProperty("connections").GetInt32();
            if (connections == 0)
            {
                view.Remove(name);
            }
            else
            {
                view[name] = connections;
            }
        }
    }
}

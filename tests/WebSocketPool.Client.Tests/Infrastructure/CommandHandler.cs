// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;
using System.Globalization;

namespace WebSocketPool.Client.Tests;

/// <summary>
/// The server side of the client tests: echoes every message, except <c>close:CODE</c> (closes with that code) and
/// <c>abort</c> (drops the socket without a close frame), and records what each user sent.
/// </summary>
public sealed class CommandHandler(ReceivedMessages received) : WebSocketHandler
{
    public override ValueTask OnMessageAsync(WebSocketConnection connection, WebSocketMessage message, CancellationToken cancellationToken)
    {
        if (message.IsText)
        {
            var text = message.GetText();
            received.Add(connection.UserKey, text);
            if (text.StartsWith("close:", StringComparison.Ordinal))
            {
                connection.Close(int.Parse(text["close:".Length..], CultureInfo.InvariantCulture), "closed by the test");
                return default;
            }

            if (text == "abort")
            {
                connection.Abort();
                return default;
            }
        }

        connection.Send(message.Payload.ToArray(), message.MessageType);
        return default;
    }
}

/// <summary>What each user sent to <see cref="CommandHandler"/>, in order.</summary>
public sealed class ReceivedMessages
{
    private readonly ConcurrentDictionary<string, ConcurrentQueue<string>> _byUser = new(StringComparer.Ordinal);

    public void Add(string user, string text) => _byUser.GetOrAdd(user, _ => new()).Enqueue(text);

    public IReadOnlyList<string> Of(string user) => _byUser.TryGetValue(user, out var queue) ? [.. queue] : [];
}

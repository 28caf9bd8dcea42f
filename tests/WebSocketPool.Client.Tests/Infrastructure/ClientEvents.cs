// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;

namespace WebSocketPool.Client.Tests;

/// <summary>Records every event a client raises, in order, for a test to wait on and inspect.</summary>
public sealed class ClientEvents
{
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(20);

    public ClientEvents(WebSocketPoolClient client)
    {
        client.Reconnecting += (_, e) => All.Enqueue(e);
        client.Reconnected += (_, e) => All.Enqueue(e);
        client.Refused += (_, e) => All.Enqueue(e);
        client.Closed += (_, e) => All.Enqueue(e);
    }

    public ConcurrentQueue<EventArgs> All { get; } = new();

    public IReadOnlyList<WebSocketPoolReconnectingEventArgs> Reconnecting => [.. All.OfType<WebSocketPoolReconnectingEventArgs>()];

    public IReadOnlyList<WebSocketPoolReconnectedEventArgs> Reconnected => [.. All.OfType<WebSocketPoolReconnectedEventArgs>()];

    public IReadOnlyList<WebSocketPoolRefusedEventArgs> Refused => [.. All.OfType<WebSocketPoolRefusedEventArgs>()];

    public IReadOnlyList<WebSocketPoolClosedEventArgs> Closed => [.. All.OfType<WebSocketPoolClosedEventArgs>()];

    /// <summary>Waits for the <paramref name="count"/>-th event of type <typeparamref name="T"/> and returns it.</summary>
    public async Task<T> WaitForAsync<T>(int count = 1)
        where T : EventArgs
    {
        await Conditions.PollAsync(() => All.OfType<T>().Count() >= count, s_deadline, $"event {typeof(T).Name} #{count}; so far: {Describe()}");
        return All.OfType<T>().ElementAt(count - 1);
    }

    public string Describe() => string.Join(", ", All.Select(e => e switch
    {
        WebSocketPoolReconnectingEventArgs r => $"Reconnecting({r.Attempt}, {r.Delay}, {r.CloseClass}, {r.Reason})",
        WebSocketPoolRefusedEventArgs r => $"Refused({r.StatusCode}, {r.Reason})",
        WebSocketPoolClosedEventArgs c => $"Closed({c.CloseStatus}, {c.StatusCode}, {c.CloseClass}, {c.Description})",
        _ => e.GetType().Name,
    }));
}

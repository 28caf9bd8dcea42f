// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;

namespace WebSocketPool.IntegrationTests.Messaging;

/// <summary>
/// A send or a kick from a thread with a <see cref="SynchronizationContext"/> (an app's UI or request context, a test
/// framework's) wakes the connection's writer or starts its close, and that work must go to the thread pool, never to
/// that context: a context that runs posted work late, or never, would otherwise hold the connection's messages and
/// close frame. The context here keeps everything posted to it and runs it only when the test ends.
/// </summary>
public sealed class SynchronizationContextTests
{
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Send_ToAnIdleWriterFromAThreadWithAContext_IsWrittenWithoutThatContext()
    {
        // 200 sends, each after the previous has arrived: most find the writer idle and wake it.
        const int Messages = 200;
        await using var server = await PoolTestServer.StartAsync();
        using var client = await server.ConnectAsync("u");
        await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == 1, s_deadline, "the connection is open");
        var connection = server.Factory.GetConnections("u").Single();
        var context = new HoldingContext();
        try
        {
            for (var i = 0; i < Messages; i++)
            {
                InContext(context, () => connection.SendText("m" + i)).Should().Be(SendResult.Queued);
                (await client.ReceiveTextAsync(s_deadline)).Should().Be("m" + i);
            }

            context.Held.Should().Be(0, "nothing of the connection's is posted to the sender's context");
        }
        finally
        {
            context.RunHeld();
        }
    }

    [Fact]
    public async Task DisconnectConnection_FromAThreadWithAContext_TheCloseFrameGoesOutWithoutThatContext()
    {
        // Connections that never sent: their close goes without a queue or a writer, on a task of its own.
        const int Connections = 20;
        await using var server = await PoolTestServer.StartAsync(o => o.MaxConnectionsPerUser = Connections);
        var clients = new List<System.Net.WebSockets.ClientWebSocket>();
        var context = new HoldingContext();
        try
        {
            for (var i = 0; i < Connections; i++)
            {
                clients.Add(await server.ConnectAsync("u"));
            }

            await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == Connections, s_deadline, "every connection is open");
            var closes = clients.Select(c => c.ReceiveCloseAsync(deadline: s_deadline)).ToList();
            foreach (var connection in server.Factory.GetConnections("u"))
            {
                InContext(context, () => server.Factory.DisconnectConnection(connection.ConnectionId)).Should().BeTrue();
            }

            foreach (var close in await Task.WhenAll(closes))
            {
                close.CloseStatus.Should().Be(WebSocketCloseCodes.Kicked);
            }

            context.Held.Should().Be(0, "nothing of the connections' is posted to the caller's context");
            await PoolTestServer.WaitUntilAsync(() => server.Factory.ActiveConnections == 0, s_deadline, "every kicked socket ends");
        }
        finally
        {
            context.RunHeld();
            clients.ForEach(c => c.Dispose());
        }
    }

    private static T InContext<T>(SynchronizationContext context, Func<T> action)
    {
        var previous = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(context);
        try
        {
            return action();
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(previous);
        }
    }

    /// <summary>Keeps what is posted to it; runs it (on the thread pool) only when told.</summary>
    private sealed class HoldingContext : SynchronizationContext
    {
        private readonly ConcurrentQueue<(SendOrPostCallback Callback, object? State)> _held = new();

        public int Held => _held.Count;

        public override void Post(SendOrPostCallback d, object? state) => _held.Enqueue((d, state));

        public override void Send(SendOrPostCallback d, object? state) => d(state);

        public void RunHeld()
        {
            while (_held.TryDequeue(out var work))
            {
                ThreadPool.QueueUserWorkItem(static w => w.Callback(w.State), work, preferLocal: false);
            }
        }
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using System.Threading.Channels;

namespace LoadHarness.Server.Bare;

/// <summary>
/// The fair fan-out baseline: a hand-written connection with what the pool has, a bounded send queue drained by one
/// writer per connection, so that a sender queues and moves on instead of awaiting each socket's send. Same capacity as
/// the pool's in this harness (16,384); a full queue refuses the message (not delivered), the socket stays open.
/// </summary>
internal sealed class QueuedBareConnection
{
    public const int QueueCapacity = 16_384;

    private readonly Channel<ReadOnlyMemory<byte>> _queue = Channel.CreateBounded<ReadOnlyMemory<byte>>(
        new BoundedChannelOptions(QueueCapacity) { SingleReader = true, SingleWriter = false, FullMode = BoundedChannelFullMode.Wait });

    public QueuedBareConnection(WebSocket socket, string user)
    {
        Socket = socket;
        User = user;
        Writer = WriteLoopAsync();
    }

    public WebSocket Socket { get; }

    public string User { get; }

    /// <summary>Gets the writer: it ends once the queue is completed and drained, or the socket fails.</summary>
    public Task Writer { get; }

    /// <summary>Queues a text message; <see langword="false"/> when the queue is full or completed.</summary>
    public bool Send(ReadOnlyMemory<byte> payload) => _queue.Writer.TryWrite(payload);

    /// <summary>No more sends: the writer drains what is queued and ends.</summary>
    public void Complete() => _queue.Writer.TryComplete();

    private async Task WriteLoopAsync()
    {
        var reader = _queue.Reader;
        try
        {
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                while (reader.TryRead(out var payload))
                {
                    if (Socket.State != WebSocketState.Open)
                    {
                        continue;
                    }

                    await Socket.SendAsync(payload, WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or ObjectDisposedException or OperationCanceledException)
        {
            Socket.Abort();
        }
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Globalization;
using System.Net.WebSockets;
using System.Text;

namespace WebSocketPool.FanOutClient;

/// <summary>
/// One connection: keeps a receive pending for its whole life (so it also answers the server's pings), checks that
/// after the echo of "ready" it receives "0".."K-1" exactly once and in order, and counts anything after that.
/// Its counters are written only by its own receive loop.
/// </summary>
internal sealed class Receiver(ClientWebSocket socket, int expectedMessages)
{
    private static readonly byte[] s_ready = Encoding.ASCII.GetBytes("ready");

    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _complete = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _echoed;
    private int _next;

    public ClientWebSocket Socket => socket;

    /// <summary>Gets a task that completes once "K-1" has arrived.</summary>
    public Task Complete => _complete.Task;

    /// <summary>Gets a task that completes when the receive loop has ended (close frame or error).</summary>
    public Task Ended => _ended.Task;

    public int OutOfOrder { get; private set; }

    public int Extra { get; private set; }

    public string? Problem { get; private set; }

    public WebSocketCloseStatus? CloseStatus { get; private set; }

    /// <summary>Starts the receive loop, sends "ready" and waits for its echo.</summary>
    public async Task StartAsync(CancellationToken lifetime, CancellationToken cancellationToken)
    {
        _ = ReceiveLoopAsync(lifetime);
        await socket.SendAsync(s_ready, WebSocketMessageType.Text, endOfMessage: true, cancellationToken);
        await _ready.Task.WaitAsync(cancellationToken);
    }

    private async Task ReceiveLoopAsync(CancellationToken lifetime)
    {
        var buffer = new byte[64];
        try
        {
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer, lifetime);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    CloseStatus = result.CloseStatus;
                    return;
                }

                if (!result.EndOfMessage || result.MessageType != WebSocketMessageType.Text)
                {
                    Note($"unexpected {result.MessageType} frame of {result.Count} bytes (end of message: {result.EndOfMessage})");
                    continue;
                }

                OnMessage(Encoding.UTF8.GetString(buffer, 0, result.Count));
            }
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or ObjectDisposedException or OperationCanceledException)
        {
            Note($"receive ended: {ex.GetType().Name}: {ex.Message}");
        }
        finally
        {
            _ready.TrySetException(new InvalidOperationException(Problem ?? "the connection ended before the echo of 'ready'"));
            _ended.TrySetResult();
        }
    }

    private void OnMessage(string text)
    {
        if (!_echoed)
        {
            _echoed = true;
            if (text == "ready")
            {
                _ready.TrySetResult();
            }
            else
            {
                Note($"expected the echo of 'ready', got '{text}'");
                _ready.TrySetException(new InvalidOperationException(Problem));
            }

            return;
        }

        if (_next >= expectedMessages)
        {
            Extra++;
            Note($"'{text}' after the last expected message");
            return;
        }

        if (text != _next.ToString(CultureInfo.InvariantCulture))
        {
            OutOfOrder++;
            Note($"expected '{_next}', got '{text}'");

            // Resynchronise on what arrived, so that one lost or repeated message counts once.
            if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number >= 0)
            {
                _next = number;
            }
            else
            {
                return;
            }
        }

        if (++_next >= expectedMessages)
        {
            _complete.TrySetResult();
        }
    }

    private void Note(string problem) => Problem ??= problem;
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;

namespace WebSocketPool.FanOutClient;

/// <summary>The connections of one client process: opened, checked and closed with bounded concurrency and deadlines.</summary>
internal sealed class ReceiverSet(FanOutClientOptions options) : IAsyncDisposable
{
    private const int Concurrency = 32;
    private static readonly TimeSpan s_stepTimeout = TimeSpan.FromSeconds(30);

    /// <summary>One HTTP handler shared by all connections (ClientWebSocket would otherwise make one each).</summary>
    private readonly HttpMessageInvoker _invoker = new(new SocketsHttpHandler { ConnectTimeout = s_stepTimeout, UseProxy = false });
    private readonly Receiver?[] _receivers = new Receiver?[options.Count];

    /// <summary>Opens every connection and waits for its "ready" echo; returns how many made it, and the first error.</summary>
    public async Task<(int Opened, string? FirstError)> OpenAsync(CancellationToken lifetime)
    {
        string? firstError = null;
        var opened = 0;
        using var gate = new SemaphoreSlim(Concurrency);
        var opening = new List<Task>(options.Count);
        for (var i = 0; i < options.Count; i++)
        {
            await gate.WaitAsync(lifetime);
            var index = i;
            opening.Add(Task.Run(async () =>
            {
                var socket = new ClientWebSocket();
                socket.Options.KeepAliveInterval = TimeSpan.Zero;
                try
                {
                    using var step = CancellationTokenSource.CreateLinkedTokenSource(lifetime);
                    step.CancelAfter(s_stepTimeout);
                    await socket.ConnectAsync(options.UriFor(index), _invoker, step.Token);
                    var receiver = new Receiver(socket, options.Messages);
                    _receivers[index] = receiver;
                    await receiver.StartAsync(lifetime, step.Token);
                    Interlocked.Increment(ref opened);
                }
                catch (Exception ex) when (ex is WebSocketException or HttpRequestException or IOException or OperationCanceledException or InvalidOperationException)
                {
                    Interlocked.CompareExchange(ref firstError, $"connection {index}: {ex.GetType().Name}: {ex.Message}", null);
                    _receivers[index] = null;
                    socket.Dispose();
                }
                finally
                {
                    gate.Release();
                }
            }, CancellationToken.None));
        }

        await Task.WhenAll(opening);
        return (opened, firstError);
    }

    /// <summary>Waits until every open connection has received all expected messages, or for --wait at most.</summary>
    public async Task<(int Complete, int Incomplete, int OutOfOrder, string? FirstProblem)> WaitForDeliveryAsync(CancellationToken lifetime)
    {
        var receivers = _receivers.OfType<Receiver>().ToList();
        try
        {
            await Task.WhenAll(receivers.Select(r => r.Complete)).WaitAsync(options.Wait, lifetime);
        }
        catch (TimeoutException)
        {
            // Reported below as incomplete connections.
        }

        var complete = receivers.Count(r => r.Complete.IsCompletedSuccessfully);
        return (complete, options.Count - complete, receivers.Sum(r => r.OutOfOrder), receivers.Select(r => r.Problem).FirstOrDefault(p => p is not null));
    }

    /// <summary>Closes every connection with the closing handshake and waits for the server's close frame.</summary>
    public async Task<(int Normal, int Extra, int Errors, string? FirstProblem)> CloseAsync(CancellationToken lifetime)
    {
        var receivers = _receivers.OfType<Receiver>().ToList();
        using var gate = new SemaphoreSlim(Concurrency * 4);
        var errors = 0;
        string? firstError = null;
        var closing = receivers.Select(async receiver =>
        {
            await gate.WaitAsync(lifetime);
            try
            {
                using var step = CancellationTokenSource.CreateLinkedTokenSource(lifetime);
                step.CancelAfter(s_stepTimeout);
                await receiver.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, step.Token);
                await receiver.Ended.WaitAsync(step.Token);
            }
            catch (Exception ex) when (ex is WebSocketException or IOException or OperationCanceledException)
            {
                Interlocked.Increment(ref errors);
                Interlocked.CompareExchange(ref firstError, $"close: {ex.GetType().Name}: {ex.Message}", null);
            }
            finally
            {
                gate.Release();
            }
        }).ToList();
        await Task.WhenAll(closing);

        var normal = receivers.Count(r => r.CloseStatus == WebSocketCloseStatus.NormalClosure);
        var problem = firstError ?? receivers.Where(r => r.Extra > 0 || r.CloseStatus != WebSocketCloseStatus.NormalClosure)
            .Select(r => r.Problem ?? $"closed with {r.CloseStatus}").FirstOrDefault();
        return (normal, receivers.Sum(r => r.Extra), errors, problem);
    }

    public ValueTask DisposeAsync()
    {
        foreach (var receiver in _receivers)
        {
            receiver?.Socket.Dispose();
        }

        _invoker.Dispose();
        return ValueTask.CompletedTask;
    }
}

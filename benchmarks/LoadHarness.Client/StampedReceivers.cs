// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using System.Globalization;
using System.Net.WebSockets;

namespace LoadHarness.Client;

/// <summary>
/// One user's connections spread over some nodes of a cluster, each receiving in a loop: every arrival is counted
/// (<see cref="Counter"/>) and, for stamped messages, its latency from the send on the sending node is kept (in a
/// <see cref="LatencyHistogram"/> per connection) until <see cref="TakeLatencies"/>.
/// </summary>
internal sealed class StampedReceivers : IAsyncDisposable
{
    private readonly List<ClientWebSocket> _sockets = [];
    private readonly List<LatencyHistogram> _latencies = [];
    private readonly List<Task> _loops = [];
    private readonly List<Task> _pings = [];
    private readonly CancellationTokenSource _lifetime;
    private readonly CancellationTokenSource _stopPings = new();
    private readonly bool _signalR;

    private StampedReceivers(bool signalR, TimeSpan lifetime)
    {
        _signalR = signalR;
        _lifetime = new CancellationTokenSource(lifetime);
    }

    public DeliveryCounter Counter { get; } = new();

    public int Count => _sockets.Count;

    /// <summary>Opens <paramref name="perNode"/> connections of <paramref name="user"/> on each of <paramref name="nodes"/>.</summary>
    public static async Task<StampedReceivers> OpenAsync(IReadOnlyList<string> nodes, string mode, string user, int perNode, TimeSpan lifetime)
    {
        var receivers = new StampedReceivers(ClientMode.IsSignalR(mode), lifetime);
        try
        {
            foreach (var node in nodes)
            {
                for (var i = 0; i < perNode; i++)
                {
                    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                    var (socket, status) = await Wire.ConnectAsync(Wire.UriFor(node, mode, user), receivers._signalR, timeout.Token).ConfigureAwait(false);
                    if (socket is null)
                    {
                        throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"A receiver of {user} on {node} failed with status {status}."));
                    }

                    var samples = new LatencyHistogram();
                    receivers._sockets.Add(socket);
                    receivers._latencies.Add(samples);
                    receivers._loops.Add(Task.Run(() => receivers.ReceiveAsync(socket, samples)));
                    if (receivers._signalR)
                    {
                        receivers._pings.Add(receivers.PingAsync(socket));
                    }
                }
            }

            return receivers;
        }
        catch
        {
            await receivers.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Every latency recorded since the last call, on every connection.</summary>
    public LatencyHistogram TakeLatencies()
    {
        var all = new LatencyHistogram();
        foreach (var samples in _latencies)
        {
            lock (samples)
            {
                all.Merge(samples);
                samples.Clear();
            }
        }

        return all;
    }

    public async ValueTask DisposeAsync()
    {
        // Pings first: a socket takes one send at a time, and the close is a send.
        await _stopPings.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_pings).WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
            await Task.WhenAll(_sockets.Select(s => Wire.CloseAsync(s, TimeSpan.FromSeconds(5)))).ConfigureAwait(false);
            await _lifetime.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(_loops).WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            await _lifetime.CancelAsync().ConfigureAwait(false);
        }

        _lifetime.Dispose();
        _stopPings.Dispose();
    }

    /// <summary>SignalR closes a connection whose client sent nothing within its client timeout: ping as its client does.</summary>
    private async Task PingAsync(ClientWebSocket socket)
    {
        try
        {
            for (var i = 0; i < 100_000 && socket.State == WebSocketState.Open; i++)
            {
                await Task.Delay(TimeSpan.FromSeconds(10), _stopPings.Token).ConfigureAwait(false);
                await socket.SendAsync(Wire.HubPing, WebSocketMessageType.Text, true, CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    private async Task ReceiveAsync(ClientWebSocket socket, LatencyHistogram samples)
    {
        var buffer = new byte[16 * 1024];
        var reader = new StampReader(_signalR);
        var pending = new List<double>(1024);
        try
        {
            for (var i = 0; i < 100_000_000 && socket.State == WebSocketState.Open; i++)
            {
                var result = await socket.ReceiveAsync(buffer, _lifetime.Token).ConfigureAwait(false);
                var arrival = Stopwatch.GetTimestamp();
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return;
                }

                var messages = reader.Read(buffer.AsSpan(0, result.Count), result.EndOfMessage, arrival, pending);
                if (pending.Count > 0)
                {
                    // Latencies first, then the count: whoever waits for the count finds the latencies in place.
                    lock (samples)
                    {
                        foreach (var ms in pending)
                        {
                            samples.Add(ms);
                        }
                    }

                    pending.Clear();
                }

                Counter.Add(messages);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }
}

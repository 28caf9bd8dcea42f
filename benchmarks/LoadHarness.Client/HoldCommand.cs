// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.WebSockets;

namespace LoadHarness.Client;

/// <summary>
/// A child client process that opens and holds idle connections (a process may open at most 20,000 files, so large
/// counts are spread over several). Given several server addresses (a cluster's nodes), connection i goes to node
/// i mod n and belongs to user <c>PREFIX-(i / n)</c>, so every user has one connection on each node. Protocol on
/// stdout/stdin: it prints
/// <c>ready opened=N failed=N statuses=S:N,… cpu=SECONDS connect=BUCKETS connectmax=MS</c> (the time each
/// successful connect took, as a <see cref="LatencyHistogram"/>), then waits for a <c>close</c> line (or end of input, or
/// its time limit), closes everything and prints <c>closed cpu=SECONDS</c>.
/// </summary>
internal static class HoldCommand
{
    public static async Task<int> RunAsync(string baseUrls, string mode, int count, string prefix, TimeSpan maxLifetime)
    {
        var nodes = baseUrls.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var signalR = ClientMode.IsSignalR(mode);
        var sockets = new ConcurrentBag<ClientWebSocket>();
        var statuses = new ConcurrentDictionary<int, int>();
        var receivers = new ConcurrentBag<Task>();
        var connectTimes = new LatencyHistogram();
        using var lifetime = new CancellationTokenSource(maxLifetime);
        using (var gate = new SemaphoreSlim(64))
        {
            var opening = new List<Task>(count);
            for (var i = 0; i < count; i++)
            {
                await gate.WaitAsync(lifetime.Token).ConfigureAwait(false);
                var uri = nodes.Length == 1
                    ? Wire.UriFor(nodes[0], mode, $"{prefix}-{i}")
                    : Wire.UriFor(nodes[i % nodes.Length], mode, $"{prefix}-{i / nodes.Length}");
                opening.Add(Task.Run(async () =>
                {
                    try
                    {
                        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                        var started = Stopwatch.GetTimestamp();
                        var (socket, status) = await Wire.ConnectAsync(uri, signalR, timeout.Token).ConfigureAwait(false);
                        var connectMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                        statuses.AddOrUpdate(status, 1, static (_, n) => n + 1);
                        if (socket is not null)
                        {
                            lock (connectTimes)
                            {
                                connectTimes.Add(connectMs);
                            }

                            sockets.Add(socket);
                            receivers.Add(DrainAsync(socket, lifetime.Token));
                        }
                    }
                    finally
                    {
                        gate.Release();
                    }
                }));
            }

            await Task.WhenAll(opening).ConfigureAwait(false);
        }

        var opened = statuses.GetValueOrDefault(101);
        var failed = count - opened;
        var statusText = string.Join(',', statuses.OrderBy(p => p.Key).Select(p => $"{p.Key}:{p.Value}"));
        Console.WriteLine(FormattableString.Invariant($"ready opened={opened} failed={failed} statuses={statusText} cpu={Cpu.Self():F2} connect={connectTimes.ToCompact()} connectmax={connectTimes.MaxMs:F3}"));

        // SignalR closes connections whose client sent nothing within its client timeout: ping like its own client does.
        var pinger = signalR ? PingAsync(sockets, lifetime.Token) : Task.CompletedTask;
        try
        {
            while (await Console.In.ReadLineAsync(lifetime.Token).ConfigureAwait(false) is { } line && line.Trim() != "close")
            {
            }
        }
        catch (OperationCanceledException)
        {
        }

        await lifetime.CancelAsync().ConfigureAwait(false);
        await pinger.ConfigureAwait(false);
        using (var gate = new SemaphoreSlim(64))
        {
            var closing = sockets.Select(async socket =>
            {
                await gate.WaitAsync().ConfigureAwait(false);
                try
                {
                    await Wire.CloseAsync(socket, TimeSpan.FromSeconds(5)).ConfigureAwait(false);
                }
                finally
                {
                    gate.Release();
                }
            }).ToList();
            await Task.WhenAll(closing).WaitAsync(TimeSpan.FromSeconds(90)).ConfigureAwait(false);
        }

        Console.WriteLine(FormattableString.Invariant($"closed cpu={Cpu.Self():F2}"));
        return 0;
    }

    /// <summary>Keeps a receive pending (so the socket answers the server's pings) and discards what arrives.</summary>
    private static async Task DrainAsync(ClientWebSocket socket, CancellationToken cancellationToken)
    {
        var buffer = new byte[256];
        try
        {
            while (socket.State == WebSocketState.Open && !cancellationToken.IsCancellationRequested)
            {
                var result = await socket.ReceiveAsync(buffer, CancellationToken.None).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or ObjectDisposedException or OperationCanceledException)
        {
        }
    }

    private static async Task PingAsync(ConcurrentBag<ClientWebSocket> sockets, CancellationToken cancellationToken)
    {
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
                foreach (var socket in sockets)
                {
                    if (socket.State == WebSocketState.Open)
                    {
                        try
                        {
                            await socket.SendAsync(Wire.HubPing, WebSocketMessageType.Text, true, cancellationToken).ConfigureAwait(false);
                        }
                        catch (Exception ex) when (ex is WebSocketException or IOException or ObjectDisposedException)
                        {
                        }
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    internal static int ParseInt(string text) => int.Parse(text, CultureInfo.InvariantCulture);
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using System.Net.Sockets;

namespace WebSocketPool.TestSupport;

/// <summary>
/// A TCP proxy on 127.0.0.1 in front of the test server, with real sockets both ways, so a test can cut a client's
/// connection the way a network does: <see cref="CutAll"/> resets both sides at once, with no WebSocket close frame, and
/// <see cref="Refusing"/> keeps the network down.
/// </summary>
public sealed class LoopbackTcpProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _target;
    private readonly List<(Socket Client, Socket Server)> _pairs = [];
    private readonly HashSet<Socket> _frozenPairs = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    public LoopbackTcpProxy(Uri target)
    {
        _target = new IPEndPoint(IPAddress.Parse(target.Host), target.Port);
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>
    /// Gets or sets a value indicating whether new connections are reset as soon as they arrive (a network that is still
    /// down); connections already through are not touched.
    /// </summary>
    public bool Refusing { get; set; }

    /// <summary>
    /// Stops forwarding on every connection through the proxy, both ways, while keeping them open: a peer that went
    /// silent (a sleeping laptop) rather than one that reset. <see cref="CutAll"/> ends them; new connections forward.
    /// </summary>
    public void FreezeAll()
    {
        lock (_pairs)
        {
            foreach (var (client, server) in _pairs)
            {
                _frozenPairs.Add(client);
                _frozenPairs.Add(server);
            }
        }
    }

    /// <summary>Gets the WebSocket address of the pool's path through the proxy.</summary>
    public Uri WebSocketUri(string query) => new($"ws://127.0.0.1:{Port}/ws?{query}");

    /// <summary>Resets every connection through the proxy, both sides, without a close frame.</summary>
    public int CutAll()
    {
        List<(Socket Client, Socket Server)> pairs;
        lock (_pairs)
        {
            pairs = [.. _pairs];
            _pairs.Clear();
        }

        foreach (var (client, server) in pairs)
        {
            Reset(client);
            Reset(server);
        }

        return pairs.Count;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        CutAll();
        try
        {
            await _accepting;
        }
        catch (OperationCanceledException)
        {
        }
        catch (SocketException)
        {
        }

        _stop.Dispose();
    }

    private static void Reset(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
            socket.Close();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptSocketAsync(_stop.Token);
            if (Refusing)
            {
                Reset(client);
                continue;
            }

            var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            client.NoDelay = true;
            await server.ConnectAsync(_target, _stop.Token);
            lock (_pairs)
            {
                _pairs.Add((client, server));
            }

            _ = PumpAsync(client, server, this);
            _ = PumpAsync(server, client, this);
        }
    }

    private bool IsFrozen(Socket socket)
    {
        lock (_pairs)
        {
            return _frozenPairs.Contains(socket);
        }
    }

    private static async Task PumpAsync(Socket from, Socket to, LoopbackTcpProxy proxy)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer, SocketFlags.None);
                if (read == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }

                if (proxy.IsFrozen(from))
                {
                    // Swallowed, as by a network that went silent; the pump keeps reading so the sender is not blocked.
                    continue;
                }

                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None);
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Cut, or the other side went away: the pair ends.
            Reset(from);
            Reset(to);
        }
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;

namespace WebSocketPool.IntegrationTests.Messaging;

/// <summary>
/// A WebSocket client over a raw <see cref="Socket"/> whose kernel receive buffer is set small before connecting, so a
/// peer that does not read stalls the server's sends quickly. The upgrade is done by hand; the framing afterwards by
/// <see cref="WebSocket.CreateFromStream(Stream, WebSocketCreationOptions)"/>. It reads nothing unless the test does.
/// </summary>
public sealed class SmallBufferWebSocketClient : IDisposable
{
    private SmallBufferWebSocketClient(Socket socket, WebSocket webSocket)
    {
        Socket = socket;
        WebSocket = webSocket;
    }

    public Socket Socket { get; }

    public WebSocket WebSocket { get; }

    public static async Task<SmallBufferWebSocketClient> ConnectAsync(Uri uri, int receiveBufferSize = 4096, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(uri);
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = receiveBufferSize, NoDelay = true };
        try
        {
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, uri.Port), cancellationToken);
            var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
            var request = $"GET {uri.PathAndQuery} HTTP/1.1\r\nHost: 127.0.0.1:{uri.Port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + $"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n";
            await socket.SendAsync(Encoding.ASCII.GetBytes(request), SocketFlags.None, cancellationToken);

            // Read the response head byte by byte so that no frame after it is consumed here.
            var head = new StringBuilder();
            var one = new byte[1];
            while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
            {
                if (head.Length > 8192 || await socket.ReceiveAsync(one, SocketFlags.None, cancellationToken) == 0)
                {
                    throw new InvalidOperationException("The upgrade response ended early: " + head);
                }

                head.Append((char)one[0]);
            }

            if (!head.ToString().StartsWith("HTTP/1.1 101", StringComparison.Ordinal))
            {
                throw new InvalidOperationException("The upgrade was refused: " + head);
            }

            var webSocket = WebSocket.CreateFromStream(new NetworkStream(socket, ownsSocket: false), new WebSocketCreationOptions
            {
                IsServer = false,
                KeepAliveInterval = TimeSpan.Zero,
            });
            return new SmallBufferWebSocketClient(socket, webSocket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        WebSocket.Dispose();
        Socket.Dispose();
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace WebSocketPool.IntegrationTests.Infrastructure;

/// <summary>
/// A WebSocket client written by hand on a plain <see cref="Socket"/>: it performs the HTTP upgrade and then does only
/// what a test tells it to. It never answers pings and never sends a close frame, so it can play a peer that vanishes
/// (RST, no close frame) or one that goes silent while its TCP connection stays up.
/// </summary>
public sealed class RawUpgradeSocket : IDisposable
{
    private const int MaxHeaderBytes = 16 * 1024;

    private RawUpgradeSocket(Socket socket, int statusCode, string responseHead)
    {
        Socket = socket;
        StatusCode = statusCode;
        ResponseHead = responseHead;
    }

    public Socket Socket { get; }

    /// <summary>Gets the HTTP status of the upgrade response (101 when the upgrade succeeded).</summary>
    public int StatusCode { get; }

    /// <summary>Gets the status line and headers of the upgrade response.</summary>
    public string ResponseHead { get; }

    /// <summary>Connects to <paramref name="server"/> and sends the upgrade request for <paramref name="user"/>.</summary>
    public static async Task<RawUpgradeSocket> ConnectAsync(Uri server, string user, CancellationToken cancellationToken = default)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, server.Port), cancellationToken);
            await socket.SendAsync(UpgradeRequest(server, user), SocketFlags.None, cancellationToken);

            // Read the response head one byte at a time so that no WebSocket frame after it is consumed.
            var head = new List<byte>(512);
            var one = new byte[1];
            while (!EndsWithBlankLine(head))
            {
                if (head.Count >= MaxHeaderBytes)
                {
                    throw new InvalidOperationException("The upgrade response head is too long.");
                }

                var read = await socket.ReceiveAsync(one, SocketFlags.None, cancellationToken);
                if (read == 0)
                {
                    throw new InvalidOperationException("The server closed the connection during the upgrade.");
                }

                head.Add(one[0]);
            }

            var text = Encoding.ASCII.GetString(head.ToArray());
            var status = int.Parse(text.Split(' ', 3)[1], System.Globalization.CultureInfo.InvariantCulture);
            return new RawUpgradeSocket(socket, status, text);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Sends the upgrade request and resets the connection at once, without reading the answer.</summary>
    public static async Task SendUpgradeAndResetAsync(Uri server, string user, CancellationToken cancellationToken = default)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, server.Port), cancellationToken);
        await socket.SendAsync(UpgradeRequest(server, user), SocketFlags.None, cancellationToken);
        socket.LingerState = new LingerOption(true, 0);
        socket.Close();
    }

    /// <summary>Drops the connection with a TCP reset: no close frame, no FIN.</summary>
    public void DropAbruptly()
    {
        Socket.LingerState = new LingerOption(true, 0);
        Socket.Close();
    }

    /// <summary>Reads one frame sent by the server (server frames are never masked).</summary>
    /// <returns>The opcode and the payload.</returns>
    public async Task<(int Opcode, byte[] Payload)> ReadFrameAsync(CancellationToken cancellationToken = default)
    {
        var header = await ReadExactlyAsync(2, cancellationToken);
        var opcode = header[0] & 0x0F;
        long length = header[1] & 0x7F;
        if (length == 126)
        {
            var extended = await ReadExactlyAsync(2, cancellationToken);
            length = (extended[0] << 8) | extended[1];
        }
        else if (length == 127)
        {
            var extended = await ReadExactlyAsync(8, cancellationToken);
            length = System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(extended);
        }

        if (length > 1024 * 1024)
        {
            throw new InvalidOperationException($"Frame of {length} bytes is larger than a test expects.");
        }

        return (opcode, await ReadExactlyAsync((int)length, cancellationToken));
    }

    /// <summary>Reads server frames until a close frame arrives, skipping pings and data (bounded by <paramref name="maxFrames"/>).</summary>
    /// <returns>The close code carried by the close frame, or <see langword="null"/> when it carried none.</returns>
    public async Task<int?> ReadCloseCodeAsync(int maxFrames = 100, CancellationToken cancellationToken = default)
    {
        for (var i = 0; i < maxFrames; i++)
        {
            var (opcode, payload) = await ReadFrameAsync(cancellationToken);
            if (opcode == 8)
            {
                return payload.Length >= 2 ? (payload[0] << 8) | payload[1] : null;
            }
        }

        throw new InvalidOperationException($"No close frame within {maxFrames} frames.");
    }

    public void Dispose() => Socket.Dispose();

    private async Task<byte[]> ReadExactlyAsync(int count, CancellationToken cancellationToken)
    {
        var buffer = new byte[count];
        var read = 0;
        while (read < count)
        {
            var n = await Socket.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None, cancellationToken);
            if (n == 0)
            {
                throw new EndOfStreamException("The server closed the connection.");
            }

            read += n;
        }

        return buffer;
    }

    private static byte[] UpgradeRequest(Uri server, string user)
    {
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        return Encoding.ASCII.GetBytes(
            $"GET /ws?user={Uri.EscapeDataString(user)} HTTP/1.1\r\n" +
            $"Host: 127.0.0.1:{server.Port}\r\n" +
            "Upgrade: websocket\r\n" +
            "Connection: Upgrade\r\n" +
            $"Sec-WebSocket-Key: {key}\r\n" +
            "Sec-WebSocket-Version: 13\r\n\r\n");
    }

    private static bool EndsWithBlankLine(List<byte> head) =>
        head.Count >= 4 && head[^4] == '\r' && head[^3] == '\n' && head[^2] == '\r' && head[^1] == '\n';
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;

namespace WebSocketPool.TestSupport;

/// <summary>
/// A deliberately primitive WebSocket client over a bare <see cref="Socket"/> on 127.0.0.1: the HTTP upgrade is written
/// by hand and every frame is encoded by hand (RFC 6455 §5.2), so a test can send what a well-behaved client never
/// sends — unmasked frames, reserved opcodes and RSV bits, fragmented or oversized control frames, lying lengths,
/// invalid close codes — and read exactly what the server answers, down to a TCP reset. It never answers a ping or
/// sends a close frame unless told to, so it can also play a peer that vanishes or goes silent. With
/// <see cref="ConnectWebSocketAsync"/> it hands the upgraded connection to a <see cref="System.Net.WebSockets.WebSocket"/>
/// over a socket whose kernel receive buffer is small, so that a peer that does not read stalls the server's sends quickly.
/// </summary>
/// <remarks>Shared by the test projects and linked into the soak tool, so it depends on nothing else here.</remarks>
public sealed class RawWebSocketClient : IAsyncDisposable, IDisposable
{
    public const byte Continuation = 0x0;
    public const byte Text = 0x1;
    public const byte Binary = 0x2;
    public const byte Close = 0x8;
    public const byte Ping = 0x9;
    public const byte Pong = 0xA;

    private readonly Socket _socket;
    private readonly byte[] _buffer;
    private WebSocket? _webSocket;
    private int _start;
    private int _end;
    private bool _closeSent;

    private RawWebSocketClient(Socket socket, int bufferSize)
    {
        _socket = socket;
        _buffer = new byte[bufferSize];
    }

    /// <summary>Gets the status code of the handshake response, once <see cref="HandshakeAsync"/> has run.</summary>
    public int HandshakeStatus { get; private set; }

    /// <summary>Gets the raw handshake response headers.</summary>
    public string HandshakeResponse { get; private set; } = string.Empty;

    public Socket Socket => _socket;

    /// <summary>Gets the <see cref="System.Net.WebSockets.WebSocket"/> that <see cref="ConnectWebSocketAsync"/> made of the connection.</summary>
    public WebSocket WebSocket => _webSocket ?? throw new InvalidOperationException("Only a client from ConnectWebSocketAsync has a WebSocket.");

    /// <summary>Opens a TCP connection to the server, without any HTTP yet.</summary>
    /// <param name="baseUri">The server.</param>
    /// <param name="bufferSize">The receive buffer: the largest frame this client can read, plus its header.</param>
    /// <param name="socketReceiveBufferSize">The kernel's receive buffer (SO_RCVBUF), set before connecting; the system default when <see langword="null"/>.</param>
    /// <param name="localAddress">The loopback address to connect from (e.g. 127.0.0.2, a second client address); 127.0.0.1 when <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the connect.</param>
    public static async Task<RawWebSocketClient> OpenAsync(
        Uri baseUri, int bufferSize = 16 * 1024, int? socketReceiveBufferSize = null, IPAddress? localAddress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(baseUri);
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        if (socketReceiveBufferSize is { } size)
        {
            socket.ReceiveBufferSize = size;
        }

        try
        {
            if (localAddress is not null)
            {
                socket.Bind(new IPEndPoint(localAddress, 0));
            }

            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, baseUri.Port), cancellationToken);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return new RawWebSocketClient(socket, bufferSize);
    }

    /// <summary>Opens a connection (from <paramref name="localAddress"/>, 127.0.0.1 by default) and completes the upgrade; throws unless the server answered 101.</summary>
    public static async Task<RawWebSocketClient> ConnectAsync(
        Uri baseUri, string user, int bufferSize = 16 * 1024, IPAddress? localAddress = null, CancellationToken cancellationToken = default)
    {
        var client = await OpenAsync(baseUri, bufferSize, localAddress: localAddress, cancellationToken: cancellationToken);
        try
        {
            var status = await client.HandshakeAsync(baseUri, user, cancellationToken);
            if (status != 101)
            {
                throw new InvalidOperationException($"The upgrade was answered {status}: {client.HandshakeResponse}");
            }

            return client;
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Opens a connection whose kernel receive buffer is <paramref name="socketReceiveBufferSize"/> bytes, completes the
    /// upgrade (throws unless 101) reading the response head byte by byte so that no frame after it is consumed, and
    /// hands the connection to <see cref="WebSocket"/>, which reads nothing unless the test does.
    /// </summary>
    public static async Task<RawWebSocketClient> ConnectWebSocketAsync(Uri baseUri, string user, int socketReceiveBufferSize = 4096, CancellationToken cancellationToken = default)
    {
        var client = await OpenAsync(baseUri, cancellationToken: cancellationToken, socketReceiveBufferSize: socketReceiveBufferSize);
        try
        {
            await client.SendRawAsync(UpgradeRequest(baseUri, user), cancellationToken);
            var head = new StringBuilder();
            var one = new byte[1];
            while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
            {
                if (head.Length > 8192 || await client._socket.ReceiveAsync(one, SocketFlags.None, cancellationToken) == 0)
                {
                    throw new InvalidOperationException("The upgrade response ended early: " + head);
                }

                head.Append((char)one[0]);
            }

            client.HandshakeResponse = head.ToString(0, head.Length - 4);
            client.HandshakeStatus = int.Parse(client.HandshakeResponse.Split(' ', 3)[1], System.Globalization.CultureInfo.InvariantCulture);
            if (client.HandshakeStatus != 101)
            {
                throw new InvalidOperationException("The upgrade was refused: " + head);
            }

            client._webSocket = WebSocket.CreateFromStream(new NetworkStream(client._socket, ownsSocket: false), new WebSocketCreationOptions
            {
                IsServer = false,
                KeepAliveInterval = TimeSpan.Zero,
            });
            return client;
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }

    /// <summary>Sends the upgrade request and resets the connection at once, without reading the answer.</summary>
    public static async Task SendUpgradeAndResetAsync(Uri baseUri, string user, CancellationToken cancellationToken = default)
    {
        await using var client = await OpenAsync(baseUri, cancellationToken: cancellationToken);
        await client.SendRawAsync(UpgradeRequest(baseUri, user), cancellationToken);
        client.Reset();
    }

    /// <summary>The bytes of a valid upgrade request for <paramref name="user"/>.</summary>
    public static byte[] UpgradeRequest(Uri baseUri, string user, string path = "/ws") => UpgradeRequest(baseUri, user, path, host: null);

    /// <summary>
    /// The bytes of an upgrade request for <paramref name="user"/> with the <c>Host</c> header <paramref name="host"/>
    /// (127.0.0.1 and the server's port when <see langword="null"/>) and further <paramref name="headers"/> such as Origin.
    /// </summary>
    public static byte[] UpgradeRequest(Uri baseUri, string user, string path, string? host, params (string Name, string Value)[] headers)
    {
        ArgumentNullException.ThrowIfNull(baseUri);
        ArgumentNullException.ThrowIfNull(headers);
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        var request = new StringBuilder()
            .Append(System.Globalization.CultureInfo.InvariantCulture, $"GET {path}?user={Uri.EscapeDataString(user)} HTTP/1.1\r\n")
            .Append(System.Globalization.CultureInfo.InvariantCulture, $"Host: {host ?? "127.0.0.1:" + baseUri.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)}\r\n")
            .Append("Upgrade: websocket\r\n")
            .Append("Connection: Upgrade\r\n")
            .Append(System.Globalization.CultureInfo.InvariantCulture, $"Sec-WebSocket-Key: {key}\r\n")
            .Append("Sec-WebSocket-Version: 13\r\n");
        foreach (var (name, value) in headers)
        {
            request.Append(System.Globalization.CultureInfo.InvariantCulture, $"{name}: {value}\r\n");
        }

        return Encoding.ASCII.GetBytes(request.Append("\r\n").ToString());
    }

    /// <summary>Sends the upgrade request in one write and reads the response headers; returns the status code.</summary>
    public async Task<int> HandshakeAsync(Uri baseUri, string user, CancellationToken cancellationToken = default)
    {
        await SendRawAsync(UpgradeRequest(baseUri, user), cancellationToken);
        return await ReadHandshakeResponseAsync(cancellationToken);
    }

    /// <summary>Reads the HTTP response headers (leaving any frame bytes after them buffered); returns the status code.</summary>
    public async Task<int> ReadHandshakeResponseAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            var headerEnd = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n\r\n"u8);
            if (headerEnd >= 0)
            {
                HandshakeResponse = Encoding.ASCII.GetString(_buffer, _start, headerEnd);
                _start += headerEnd + 4;
                var statusLine = HandshakeResponse.Split("\r\n")[0];
                HandshakeStatus = int.Parse(statusLine.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
                return HandshakeStatus;
            }

            if (!await FillAsync(cancellationToken))
            {
                throw new EndOfStreamException("The server closed the connection before answering the upgrade.");
            }
        }
    }

    /// <summary>
    /// Reads the body of a non-101 handshake response (after <see cref="ReadHandshakeResponseAsync"/>): by
    /// <c>Content-Length</c>, de-chunked for <c>Transfer-Encoding: chunked</c>, else up to the end of the connection.
    /// </summary>
    public async Task<string> ReadHandshakeBodyAsync(CancellationToken cancellationToken = default)
    {
        var headers = HandshakeResponse.Split("\r\n").Skip(1)
            .Select(line => line.Split(':', 2))
            .Where(parts => parts.Length == 2)
            .ToLookup(parts => parts[0].Trim(), parts => parts[1].Trim(), StringComparer.OrdinalIgnoreCase);
        if (int.TryParse(headers["Content-Length"].FirstOrDefault(), System.Globalization.CultureInfo.InvariantCulture, out var length))
        {
            return await EnsureAsync(length, cancellationToken) ? Take(length) : throw new EndOfStreamException("The response body ended early.");
        }

        if (!headers["Transfer-Encoding"].Any(v => v.Contains("chunked", StringComparison.OrdinalIgnoreCase)))
        {
            while (await FillAsync(cancellationToken))
            {
            }

            return Take(_end - _start);
        }

        var body = new StringBuilder();
        while (true)
        {
            int lineEnd;
            while ((lineEnd = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n"u8)) < 0)
            {
                if (!await FillAsync(cancellationToken))
                {
                    throw new EndOfStreamException("The chunked response body ended early.");
                }
            }

            var size = Convert.ToInt32(Encoding.ASCII.GetString(_buffer, _start, lineEnd).Split(';')[0].Trim(), 16);
            _start += lineEnd + 2;
            if (!await EnsureAsync(size + 2, cancellationToken))
            {
                throw new EndOfStreamException("The chunked response body ended early.");
            }

            body.Append(Take(size));
            _start += 2;
            if (size == 0)
            {
                return body.ToString();
            }
        }
    }

    public async Task SendRawAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken = default)
    {
        while (!bytes.IsEmpty)
        {
            var sent = await _socket.SendAsync(bytes, SocketFlags.None, cancellationToken);
            bytes = bytes[sent..];
        }
    }

    /// <summary>Sends one hand-built frame.</summary>
    /// <param name="opcode">The 4-bit opcode, valid or not.</param>
    /// <param name="payload">The payload (masked on the wire when <paramref name="mask"/> is set).</param>
    /// <param name="fin">The FIN bit.</param>
    /// <param name="mask">Whether the frame is masked, as RFC 6455 requires of clients.</param>
    /// <param name="rsv">The three RSV bits (0–7).</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    public Task SendFrameAsync(byte opcode, ReadOnlyMemory<byte> payload, bool fin = true, bool mask = true, byte rsv = 0, CancellationToken cancellationToken = default)
    {
        if (opcode == Close)
        {
            _closeSent = true;
        }

        return SendRawAsync(EncodeFrame(opcode, payload.Span, fin, mask, rsv), cancellationToken);
    }

    public Task SendTextAsync(string text, CancellationToken cancellationToken = default) =>
        SendFrameAsync(Text, Encoding.UTF8.GetBytes(text), cancellationToken: cancellationToken);

    /// <summary>Sends a close frame with <paramref name="code"/> (any value, valid or not) and an optional reason.</summary>
    public Task SendCloseAsync(int code, string reason = "", CancellationToken cancellationToken = default)
    {
        var reasonBytes = Encoding.UTF8.GetBytes(reason);
        var payload = new byte[2 + reasonBytes.Length];
        BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)code);
        reasonBytes.CopyTo(payload, 2);
        return SendFrameAsync(Close, payload, cancellationToken: cancellationToken);
    }

    public static byte[] EncodeFrame(byte opcode, ReadOnlySpan<byte> payload, bool fin = true, bool mask = true, byte rsv = 0)
    {
        var headerLength = 2 + (payload.Length > ushort.MaxValue ? 8 : payload.Length > 125 ? 2 : 0) + (mask ? 4 : 0);
        var frame = new byte[headerLength + payload.Length];
        frame[0] = (byte)((fin ? 0x80 : 0) | ((rsv & 0x7) << 4) | (opcode & 0xF));
        var offset = 2;
        if (payload.Length > ushort.MaxValue)
        {
            frame[1] = 127;
            BinaryPrimitives.WriteUInt64BigEndian(frame.AsSpan(2), (ulong)payload.Length);
            offset += 8;
        }
        else if (payload.Length > 125)
        {
            frame[1] = 126;
            BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(2), (ushort)payload.Length);
            offset += 2;
        }
        else
        {
            frame[1] = (byte)payload.Length;
        }

        if (mask)
        {
            frame[1] |= 0x80;
            var key = frame.AsSpan(offset, 4);
            RandomNumberGenerator.Fill(key);
            offset += 4;
            for (var i = 0; i < payload.Length; i++)
            {
                frame[offset + i] = (byte)(payload[i] ^ key[i & 3]);
            }
        }
        else
        {
            payload.CopyTo(frame.AsSpan(offset));
        }

        return frame;
    }

    /// <summary>Reads one frame from the server; <see langword="null"/> when the server closed the TCP connection.</summary>
    public async Task<RawFrame?> ReceiveFrameAsync(CancellationToken cancellationToken = default)
    {
        if (!await EnsureAsync(2, cancellationToken))
        {
            return null;
        }

        var b0 = _buffer[_start];
        var b1 = _buffer[_start + 1];
        var masked = (b1 & 0x80) != 0;
        long length = b1 & 0x7F;
        var headerLength = 2 + (length == 126 ? 2 : length == 127 ? 8 : 0) + (masked ? 4 : 0);
        if (!await EnsureAsync(headerLength, cancellationToken))
        {
            return null;
        }

        length = length switch
        {
            126 => BinaryPrimitives.ReadUInt16BigEndian(_buffer.AsSpan(_start + 2)),
            127 => (long)BinaryPrimitives.ReadUInt64BigEndian(_buffer.AsSpan(_start + 2)),
            _ => length,
        };
        if (length > _buffer.Length - headerLength)
        {
            throw new InvalidDataException($"The server sent a frame of {length} bytes, larger than this client reads.");
        }

        if (!await EnsureAsync(headerLength + (int)length, cancellationToken))
        {
            return null;
        }

        var payload = _buffer.AsSpan(_start + headerLength, (int)length).ToArray();
        if (masked)
        {
            var key = _buffer.AsSpan(_start + headerLength - 4, 4);
            for (var i = 0; i < payload.Length; i++)
            {
                payload[i] ^= key[i & 3];
            }
        }

        _start += headerLength + (int)length;
        return new RawFrame((b0 & 0x80) != 0, (byte)((b0 >> 4) & 0x7), (byte)(b0 & 0xF), masked, payload);
    }

    /// <summary>Reads the next data frame, answering pings on the way; <see langword="null"/> if the connection ended first.</summary>
    public async Task<RawFrame?> ReceiveDataFrameAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            var frame = await ReceiveFrameAsync(cancellationToken);
            if (frame is null || frame.Value.Opcode is Text or Binary or Continuation or Close)
            {
                return frame;
            }

            if (frame.Value.Opcode == Ping)
            {
                await SendFrameAsync(Pong, frame.Value.Payload, cancellationToken: cancellationToken);
            }
        }
    }

    /// <summary>Reads server frames until a close frame arrives, skipping pings (unanswered) and data, at most <paramref name="maxFrames"/>.</summary>
    /// <returns>The close code carried by the close frame, or <see langword="null"/> when it carried none.</returns>
    public async Task<int?> ReadCloseCodeAsync(int maxFrames = 100, CancellationToken cancellationToken = default)
    {
        for (var i = 0; i < maxFrames; i++)
        {
            var frame = await ReceiveFrameAsync(cancellationToken) ?? throw new EndOfStreamException("The server closed the connection.");
            if (frame.Opcode == Close)
            {
                return frame.Payload.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(frame.Payload) : null;
            }
        }

        throw new InvalidOperationException($"No close frame within {maxFrames} frames.");
    }

    /// <summary>
    /// Reads until the server ends the connection, the way a client that has nothing more to say would: data frames are
    /// skipped, pings answered, the server's close frame answered once with the same code. Returns how it ended.
    /// </summary>
    /// <param name="deadline">How long the server gets to end the connection.</param>
    /// <param name="answerPings">Whether to answer the server's pings; a peer that stopped answering does not.</param>
    public async Task<ConnectionEnd> ReadUntilEndAsync(TimeSpan deadline, bool answerPings = true)
    {
        using var cts = new CancellationTokenSource(deadline);
        int? closeCode = null;
        var closeFrames = 0;
        var dataFrames = 0;
        try
        {
            while (true)
            {
                var frame = await ReceiveFrameAsync(cts.Token);
                if (frame is not { } f)
                {
                    return new ConnectionEnd(closeCode, closeFrames, dataFrames, Reset: false);
                }

                switch (f.Opcode)
                {
                    case Close:
                        closeFrames++;
                        closeCode = f.Payload.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(f.Payload) : 1005;
                        if (!_closeSent)
                        {
                            try
                            {
                                await SendFrameAsync(Close, f.Payload.Length >= 2 ? f.Payload.AsMemory(0, 2) : ReadOnlyMemory<byte>.Empty, cancellationToken: cts.Token);
                            }
                            catch (SocketException)
                            {
                                // The server may already have dropped the connection after its close frame.
                            }
                        }

                        break;
                    case Ping when answerPings:
                        await SendFrameAsync(Pong, f.Payload, cancellationToken: cts.Token);
                        break;
                    case Ping or Pong:
                        break;
                    default:
                        dataFrames++;
                        break;
                }
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Shutdown)
        {
            return new ConnectionEnd(closeCode, closeFrames, dataFrames, Reset: true);
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"The server did not end the connection within {deadline.TotalSeconds:F0} s (close frames seen: {closeFrames}, code {closeCode}).");
        }
    }

    /// <summary>Drops the connection with a TCP reset (SO_LINGER 0), as a crashed or vanished peer does.</summary>
    public void Reset()
    {
        try
        {
            _socket.LingerState = new LingerOption(true, 0);
        }
        catch (SocketException)
        {
            // Already gone.
        }

        _socket.Close();
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return default;
    }

    public void Dispose()
    {
        _webSocket?.Dispose();
        _socket.Dispose();
    }

    private async Task<bool> EnsureAsync(int count, CancellationToken cancellationToken)
    {
        while (_end - _start < count)
        {
            if (!await FillAsync(cancellationToken))
            {
                return false;
            }
        }

        return true;
    }

    private string Take(int count)
    {
        var text = Encoding.UTF8.GetString(_buffer, _start, count);
        _start += count;
        return text;
    }

    private async Task<bool> FillAsync(CancellationToken cancellationToken)
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        if (_end == _buffer.Length)
        {
            throw new InvalidDataException("The receive buffer is full.");
        }

        var read = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, cancellationToken);
        _end += read;
        return read > 0;
    }

    /// <summary>One frame as the server sent it.</summary>
    public readonly record struct RawFrame(bool Fin, byte Rsv, byte Opcode, bool Masked, byte[] Payload)
    {
        public string Text => Encoding.UTF8.GetString(Payload);
    }

    /// <summary>How the server ended a connection: a close frame (with its code) and then EOF, or a reset.</summary>
    public readonly record struct ConnectionEnd(int? CloseCode, int CloseFrames, int DataFrames, bool Reset)
    {
        public override string ToString() => $"close code {CloseCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}, close frames {CloseFrames}, data frames {DataFrames}, reset {Reset}";
    }
}

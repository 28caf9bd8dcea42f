// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;

namespace LoadHarness.Client;

/// <summary>
/// The load client's own WebSocket client: as little work per message as the protocol allows, so that one client core
/// can drive a server core. A raw <see cref="Socket"/> (TCP_NODELAY, as <c>ClientWebSocket</c> sets it); the upgrade
/// request written as bytes with a fixed, valid <c>Sec-WebSocket-Key</c>, the 101 status line checked and the headers
/// skipped to the blank line; client frames sent from buffers masked once (<see cref="TextMessage"/>); server frames
/// (unmasked) parsed from one reused receive buffer, several per read when they arrive together. No allocation per
/// message, no task per message: the socket's own pooled awaitables. Server pings are answered with a pong; the
/// closing handshake is the same as <c>ClientWebSocket</c>'s (close frame, the server's close frame, then wait for the
/// server to close the TCP connection, so that TIME_WAIT stays on the server's side as before).
/// </summary>
internal sealed class LightWebSocket : BenchSocket
{
    private const string Key = "dGhlIHNhbXBsZSBub25jZQ==";
    private static readonly byte[] s_close = TextMessage.BuildFrame(0x88, [0x03, 0xe8]);
    private static readonly byte[] s_headerEnd = "\r\n\r\n"u8.ToArray();

    private readonly Socket _socket;
    private readonly byte[] _in = new byte[16 * 1024];
    private int _start;
    private int _end;
    private long _remaining;
    private bool _final;
    private bool _closeReceived;
    private bool _closeSent;
    private bool _disposed;
    private int _receiving;
    private TaskCompletionSource? _receiveEnded;

    private LightWebSocket(Socket socket) => _socket = socket;

    public override bool IsOpen => !_closeReceived && !_closeSent && !_disposed;

    /// <summary>Connects and upgrades. Returns the socket, or null and the HTTP status of the refusal (0 when none).</summary>
    public static async Task<(LightWebSocket? Socket, int Status)> ConnectAsync(EndPoint endPoint, string host, string pathAndQuery, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var client = new LightWebSocket(socket);
        try
        {
            await socket.ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
            var request = Encoding.ASCII.GetBytes(
                "GET " + pathAndQuery + " HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
                + Key + "\r\nSec-WebSocket-Version: 13\r\n\r\n");
            await client.SendAllAsync(request, cancellationToken).ConfigureAwait(false);
            var status = await client.ReadResponseHeadAsync(cancellationToken).ConfigureAwait(false);
            if (status == 101)
            {
                return (client, 101);
            }

            client.Abort();
            return (null, status);
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException)
        {
            client.Abort();
            return (null, 0);
        }
    }

    public override ValueTask SendAsync(TextMessage message, CancellationToken cancellationToken) => SendAllAsync(message.Frame, cancellationToken);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<BenchReceive> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        Volatile.Write(ref _receiving, 1);
        try
        {
            return await ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Volatile.Write(ref _receiving, 0);
            Volatile.Read(ref _receiveEnded)?.TrySetResult();
        }
    }

    /// <summary>
    /// Sends the close frame and reads to the server's close frame, then waits for the server to close the TCP
    /// connection. A receive still waiting elsewhere (a fan-out receiver) gets the rest first: the close waits for it
    /// to end, as <c>ClientWebSocket</c>'s close lets a pending receive take the server's close frame.
    /// </summary>
    public override async Task CloseAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            if (!_disposed && !_closeSent)
            {
                _closeSent = true;
                await SendAllAsync(s_close, cts.Token).ConfigureAwait(false);
                if (Volatile.Read(ref _receiving) == 1)
                {
                    var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    Volatile.Write(ref _receiveEnded, ended);
                    if (Volatile.Read(ref _receiving) == 1)
                    {
                        await ended.Task.WaitAsync(cts.Token).ConfigureAwait(false);
                    }
                }

                var discard = new byte[256];
                for (var i = 0; i < 100_000 && !_closeReceived; i++)
                {
                    var result = await ReadAsync(discard, cts.Token).ConfigureAwait(false);
                    if (result.Closed && !_closeReceived)
                    {
                        break;
                    }
                }

                // The server closes the TCP connection after the handshake; wait for it (at most a second), as
                // ClientWebSocket does.
                cts.CancelAfter(TimeSpan.FromSeconds(Math.Min(1, timeout.TotalSeconds)));
                _start = _end = 0;
                for (var i = 0; i < 1_000 && await FillAsync(cts.Token).ConfigureAwait(false); i++)
                {
                    _start = _end = 0;
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException or ObjectDisposedException or TimeoutException)
        {
        }
        finally
        {
            Abort();
        }
    }

    public override void Abort()
    {
        _disposed = true;
        _socket.Dispose();
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<BenchReceive> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        for (var frames = 0; frames < 100_000; frames++)
        {
            if (_remaining > 0)
            {
                if (_start == _end && !await FillAsync(cancellationToken).ConfigureAwait(false))
                {
                    return new BenchReceive(0, false, Closed: true);
                }

                var n = (int)Math.Min(Math.Min(_remaining, _end - _start), buffer.Length);
                _in.AsSpan(_start, n).CopyTo(buffer.Span);
                _start += n;
                _remaining -= n;
                return new BenchReceive(n, _remaining == 0 && _final, Closed: false);
            }

            if (!await EnsureAsync(2, cancellationToken).ConfigureAwait(false))
            {
                return new BenchReceive(0, false, Closed: true);
            }

            var first = _in[_start];
            var second = _in[_start + 1];
            var length7 = second & 0x7f;
            var header = 2 + (length7 == 126 ? 2 : length7 == 127 ? 8 : 0) + ((second & 0x80) != 0 ? 4 : 0);
            if (!await EnsureAsync(header, cancellationToken).ConfigureAwait(false))
            {
                return new BenchReceive(0, false, Closed: true);
            }

            long length = length7 switch
            {
                126 => BinaryPrimitives.ReadUInt16BigEndian(_in.AsSpan(_start + 2)),
                127 => (long)BinaryPrimitives.ReadUInt64BigEndian(_in.AsSpan(_start + 2)),
                _ => length7,
            };
            if ((second & 0x80) != 0)
            {
                throw new IOException("The server sent a masked frame.");
            }

            var opcode = first & 0x0f;
            if (opcode < 8)
            {
                _start += header;
                _remaining = length;
                _final = (first & 0x80) != 0;
                if (length == 0)
                {
                    return new BenchReceive(0, _final, Closed: false);
                }

                continue;
            }

            // A control frame: at most 125 bytes, read whole.
            if (length > 125 || !await EnsureAsync(header + (int)length, cancellationToken).ConfigureAwait(false))
            {
                return new BenchReceive(0, false, Closed: true);
            }

            var payload = _in.AsSpan(_start + header, (int)length);
            _start += header + (int)length;
            if (opcode == 0x9)
            {
                await SendAllAsync(TextMessage.BuildFrame(0x8a, payload), cancellationToken).ConfigureAwait(false);
            }
            else if (opcode == 0x8)
            {
                _closeReceived = true;
                return new BenchReceive(0, false, Closed: true);
            }
        }

        throw new IOException("Too many frames in one receive.");
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask SendAllAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        for (var i = 0; i < 10_000 && data.Length > 0; i++)
        {
            var sent = await _socket.SendAsync(data, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            data = data[sent..];
        }
    }

    /// <summary>Reads more bytes after <see cref="_end"/>, first moving what is buffered to the front when the buffer is full or empty. False at end of stream.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> FillAsync(CancellationToken cancellationToken)
    {
        if (_start == _end)
        {
            _start = _end = 0;
        }
        else if (_end == _in.Length)
        {
            Buffer.BlockCopy(_in, _start, _in, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        var read = await _socket.ReceiveAsync(_in.AsMemory(_end), SocketFlags.None, cancellationToken).ConfigureAwait(false);
        _end += read;
        return read > 0;
    }

    /// <summary>Makes sure <paramref name="count"/> bytes (at most a frame header and a control payload) are buffered from <see cref="_start"/>.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> EnsureAsync(int count, CancellationToken cancellationToken)
    {
        if (_in.Length - _start < count)
        {
            Buffer.BlockCopy(_in, _start, _in, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        for (var i = 0; i < 1_000 && _end - _start < count; i++)
        {
            if (!await FillAsync(cancellationToken).ConfigureAwait(false))
            {
                return false;
            }
        }

        return _end - _start >= count;
    }

    /// <summary>Reads the response head up to its blank line; returns its status code and keeps what follows buffered.</summary>
    private async Task<int> ReadResponseHeadAsync(CancellationToken cancellationToken)
    {
        for (var i = 0; i < 1_000; i++)
        {
            var end = _in.AsSpan(0, _end).IndexOf(s_headerEnd);
            if (end >= 0)
            {
                _start = end + s_headerEnd.Length;
                return ParseStatus(_in.AsSpan(0, end));
            }

            if (_end == _in.Length || !await FillAsync(cancellationToken).ConfigureAwait(false))
            {
                return ParseStatus(_in.AsSpan(0, _end));
            }
        }

        return 0;
    }

    /// <summary>The status code of an <c>HTTP/1.1 NNN reason</c> line, 0 when there is none.</summary>
    private static int ParseStatus(ReadOnlySpan<byte> head)
    {
        if (head.Length < 12 || !head.StartsWith("HTTP/1.1 "u8))
        {
            return 0;
        }

        var code = head.Slice(9, 3);
        return code[0] is >= (byte)'0' and <= (byte)'9' && code[1] is >= (byte)'0' and <= (byte)'9' && code[2] is >= (byte)'0' and <= (byte)'9'
            ? ((code[0] - '0') * 100) + ((code[1] - '0') * 10) + (code[2] - '0')
            : 0;
    }
}

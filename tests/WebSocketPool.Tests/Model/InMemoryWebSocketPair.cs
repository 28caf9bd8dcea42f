// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.IO.Pipelines;
using System.Net.WebSockets;

namespace WebSocketPool.Tests.Model;

/// <summary>
/// A real server and client <see cref="WebSocket"/> (.NET's own implementation, from <see cref="WebSocket.CreateFromStream(Stream, WebSocketCreationOptions)"/>)
/// joined by two in-memory pipes instead of TCP: the pool's receive loop, write loop and closing handshake run for real,
/// thousands of times a second, with no port or descriptor used. The client answers every close the server sends.
/// </summary>
internal sealed class InMemoryWebSocketPair
{
    private readonly DuplexPipeStream _clientStream;

    private readonly Action<ReadOnlyMemory<byte>>? _onMessage;

    /// <param name="onMessage">Called with each whole message the client receives (at most 256 bytes), in order.</param>
    /// <param name="toClientBytes">
    /// When set, how many bytes the server may have in flight to the client before its sends wait for the client to read:
    /// small values keep the server's writer in the middle of a send for much of the time.
    /// </param>
    /// <param name="onServerWrite">Called on the writing thread each time the server's socket writes to the transport.</param>
    public InMemoryWebSocketPair(Action<ReadOnlyMemory<byte>>? onMessage = null, int? toClientBytes = null, Action? onServerWrite = null)
    {
        _onMessage = onMessage;
        var toServer = new Pipe();
        var toClient = toClientBytes is { } bytes ? new Pipe(new PipeOptions(pauseWriterThreshold: bytes, resumeWriterThreshold: bytes / 2)) : new Pipe();
        _clientStream = new DuplexPipeStream(toClient.Reader, toServer.Writer);
        Server = WebSocket.CreateFromStream(new DuplexPipeStream(toServer.Reader, toClient.Writer, onServerWrite), new WebSocketCreationOptions { IsServer = true, KeepAliveInterval = TimeSpan.Zero });
        Client = WebSocket.CreateFromStream(_clientStream, new WebSocketCreationOptions { IsServer = false, KeepAliveInterval = TimeSpan.Zero });
        ClientLoop = AnswerClosesAsync();
    }

    public WebSocket Server { get; }

    public WebSocket Client { get; }

    /// <summary>Gets the client's read loop: it ends when the connection has ended, whichever side ended it.</summary>
    public Task ClientLoop { get; }

    /// <summary>Starts a normal close from the client (1000) and returns once the frame is written.</summary>
    public void CloseFromClient() => Client.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None).GetAwaiter().GetResult();

    /// <summary>The client vanishes without a close frame: the server's next read ends the stream.</summary>
    public void Drop() => _clientStream.Dispose();

    private async Task AnswerClosesAsync()
    {
        var buffer = new byte[256];
        try
        {
            while (true)
            {
                var result = await Client.ReceiveAsync(buffer, CancellationToken.None).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    if (Client.State == WebSocketState.CloseReceived)
                    {
                        await Client.CloseOutputAsync(result.CloseStatus ?? WebSocketCloseStatus.NormalClosure, null, CancellationToken.None).ConfigureAwait(false);
                    }

                    return;
                }

                if (result.EndOfMessage)
                {
                    _onMessage?.Invoke(buffer.AsMemory(0, result.Count));
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or ObjectDisposedException or OperationCanceledException)
        {
            // The connection ended without a closing handshake (dropped or aborted).
        }
    }

    /// <summary>One end of the pair: reads from one pipe, writes to the other; disposing it ends both directions.</summary>
    private sealed class DuplexPipeStream(PipeReader reader, PipeWriter writer, Action? onWrite = null) : Stream
    {
        private readonly Stream _read = reader.AsStream();
        private readonly Stream _write = writer.AsStream();

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => _read.Read(buffer, offset, count);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => _read.ReadAsync(buffer, cancellationToken);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => _read.ReadAsync(buffer, offset, count, cancellationToken);

        public override void Write(byte[] buffer, int offset, int count)
        {
            onWrite?.Invoke();
            _write.Write(buffer, offset, count);
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            onWrite?.Invoke();
            return _write.WriteAsync(buffer, cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            onWrite?.Invoke();
            return _write.WriteAsync(buffer, offset, count, cancellationToken);
        }

        public override void Flush() => _write.Flush();

        public override Task FlushAsync(CancellationToken cancellationToken) => _write.FlushAsync(cancellationToken);

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _read.Dispose();
                _write.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}

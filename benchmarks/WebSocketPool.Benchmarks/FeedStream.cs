// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Threading.Tasks.Sources;

namespace WebSocketPool.Benchmarks;

/// <summary>
/// The transport under an echo benchmark's server <see cref="System.Net.WebSockets.WebSocket"/>: a read waits (through a
/// reusable <see cref="IValueTaskSource{TResult}"/>, so waiting allocates nothing) until the benchmark feeds it a client
/// frame, which it then hands out as a real transport would; writes are counted on the shared <see cref="WriteCounter"/>
/// and discarded. One frame is fed at a time: the benchmark feeds the next only after the echo of the previous has been
/// written, so the connection goes idle (a zero-byte read) between messages, as a real one does.
/// </summary>
internal sealed class FeedStream(WriteCounter counter) : Stream, IValueTaskSource<int>
{
    private readonly object _sync = new();
    private ManualResetValueTaskSourceCore<int> _core = new() { RunContinuationsAsynchronously = true };
    private ReadOnlyMemory<byte> _available;
    private Memory<byte> _waitingBuffer;
    private bool _waiting;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    /// <summary>Hands <paramref name="frame"/> to the reader: at once if a read waits, else to the next read.</summary>
    public void Feed(ReadOnlyMemory<byte> frame)
    {
        lock (_sync)
        {
            _available = frame;
            if (!_waiting)
            {
                return;
            }

            _waiting = false;
            var count = Take(_waitingBuffer.Span);
            _waitingBuffer = default;
            _core.SetResult(count);
        }
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        lock (_sync)
        {
            if (!_available.IsEmpty)
            {
                return new ValueTask<int>(Take(buffer.Span));
            }

            _core.Reset();
            _waiting = true;
            _waitingBuffer = buffer;
            return new ValueTask<int>(this, _core.Version);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("Reads are asynchronous only.");

    public override void Write(byte[] buffer, int offset, int count) => counter.Add(count);

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        counter.Add(buffer.Length);
        return ValueTask.CompletedTask;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        counter.Add(count);
        return Task.CompletedTask;
    }

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    int IValueTaskSource<int>.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<int>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<int>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);

    /// <summary>Copies what fits of the available bytes (none for a zero-byte read, which only learns that data is here).</summary>
    private int Take(Span<byte> destination)
    {
        var count = Math.Min(destination.Length, _available.Length);
        _available.Span[..count].CopyTo(destination);
        _available = _available[count..];
        return count;
    }
}

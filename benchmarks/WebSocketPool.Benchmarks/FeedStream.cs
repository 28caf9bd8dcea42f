// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Threading.Tasks.Sources;

namespace WebSocketPool.Benchmarks;

/// <summary>
/// The transport under an echo benchmark's server <see cref="System.Net.WebSockets.WebSocket"/>: a read waits (through a
/// reusable <see cref="IValueTaskSource{TResult}"/>, so waiting allocates nothing) until the benchmark feeds it a client
/// frame, which it then hands out as a real transport would; writes are counted and discarded. One frame is fed at a
/// time: the benchmark feeds the next only after the echo of the previous has been written, so the connection goes idle
/// (a zero-byte read) between messages, as a real one does.
/// </summary>
internal sealed class FeedStream(WriteCounter counter) : WriteCountingStream(counter), IValueTaskSource<int>
{
    private readonly object _sync = new();
    private ManualResetValueTaskSourceCore<int> _core = new() { RunContinuationsAsynchronously = true };
    private ReadOnlyMemory<byte> _available;
    private Memory<byte> _waitingBuffer;
    private bool _waiting;

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

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Benchmarks;

/// <summary>
/// The transport of a connection whose peer never sends: reads wait until cancelled, writes are counted and discarded.
/// The shared <see cref="WriteCounter"/> is signalled when the bytes written reach its target, so a benchmark can wait
/// for delivery without polling.
/// </summary>
internal sealed class SinkStream(WriteCounter counter) : WriteCountingStream(counter)
{
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        return 0;
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using StackExchange.Redis;

namespace WebSocketPool.Redis.Internal;

/// <summary>
/// Proves that this node hears the bus: it publishes a probe to its own channel and waits to receive it. Used after the
/// subscription connection came back, to check (rather than trust) that the client restored the subscriptions. It
/// bypasses the publication limit: one probe at a time, and only while recovering.
/// </summary>
internal sealed class BusProbe(RedisConnection connection, BusChannels channels, TimeSpan timeout, TimeProvider timeProvider)
{
    private readonly Lock _lock = new();
    private TaskCompletionSource<bool>? _pending;
    private int _pendingNonce;
    private int _lastNonce;

    /// <summary>True when the probe came back within the timeout.</summary>
    public async Task<bool> RunAsync()
    {
        if (connection.Multiplexer is not { IsConnected: true } multiplexer)
        {
            return false;
        }

        var nonce = Interlocked.Increment(ref _lastNonce);
        var heard = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            _pending = heard;
            _pendingNonce = nonce;
        }

        try
        {
            var probe = new BusMessage(BusMessageKind.Probe, connection.NodeId, string.Empty, nonce, null, ReadOnlyMemory<byte>.Empty);
            await multiplexer.GetSubscriber().PublishAsync(RedisChannel.Literal(channels.Own), probe.Encode())
                .WaitAsync(timeout, timeProvider).ConfigureAwait(false);
            return await heard.Task.WaitAsync(timeout, timeProvider).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return false;
        }
        finally
        {
            lock (_lock)
            {
                _pending = null;
            }
        }
    }

    /// <summary>This node's probe arrived on its own channel.</summary>
    public void Heard(int nonce)
    {
        lock (_lock)
        {
            if (_pending is not null && _pendingNonce == nonce)
            {
                _pending.TrySetResult(true);
            }
        }
    }
}

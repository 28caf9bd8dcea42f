// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using System.Threading.Channels;

namespace WebSocketPool.Client.Internal;

/// <summary>
/// The client's outgoing messages, bounded in count and in bytes, drained by one writer per connection. It outlives
/// connections: what is queued while the client reconnects is written on the next connection, in order. A
/// <see cref="Channel{T}"/> bounds only the count, so the bytes are counted here, under one lock with the count.
/// </summary>
internal sealed class SendQueue
{
    private readonly Channel<OutgoingMessage> _channel = Channel.CreateUnbounded<OutgoingMessage>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = false });

    private readonly Lock _lock = new();
    private readonly int _capacity;
    private readonly long _maxBytes;
    private int _count;
    private long _bytes;

    public SendQueue(int capacity, long maxBytes)
    {
        _capacity = capacity;
        _maxBytes = maxBytes;
    }

    public int Count => Volatile.Read(ref _count);

    /// <summary>Queues a copy of <paramref name="payload"/>; throws <see cref="WebSocketPoolSendQueueFullException"/> past a bound.</summary>
    public void Enqueue(ReadOnlyMemory<byte> payload, WebSocketMessageType messageType)
    {
        lock (_lock)
        {
            if (_count + 1 > _capacity)
            {
                throw new WebSocketPoolSendQueueFullException(
                    $"The send queue holds its maximum of {_capacity} messages (SendQueueCapacity); the message was not queued.");
            }

            if (_bytes + payload.Length > _maxBytes)
            {
                throw new WebSocketPoolSendQueueFullException(
                    $"The send queue holds {_bytes} bytes and this message has {payload.Length}, over SendQueueMaxBytes ({_maxBytes}); the message was not queued.");
            }

            // The caller's memory is theirs again as soon as this returns, so the queue keeps its own copy.
            var message = new OutgoingMessage(payload.ToArray(), messageType);
            if (!_channel.Writer.TryWrite(message))
            {
                throw new InvalidOperationException("The client is closed; the message was not queued.");
            }

            _count++;
            _bytes += payload.Length;
        }
    }

    public bool TryDequeue(out OutgoingMessage message)
    {
        lock (_lock)
        {
            if (!_channel.Reader.TryRead(out message))
            {
                return false;
            }

            _count--;
            _bytes -= message.Payload.Length;
            return true;
        }
    }

    public ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken) => _channel.Reader.WaitToReadAsync(cancellationToken);

    /// <summary>Refuses further messages and drops those still queued (the client closed for good).</summary>
    public int Complete()
    {
        lock (_lock)
        {
            _channel.Writer.TryComplete();
            var dropped = _count;
            while (_channel.Reader.TryRead(out _))
            {
            }

            _count = 0;
            _bytes = 0;
            return dropped;
        }
    }
}

/// <summary>A queued message, holding its own copy of the payload.</summary>
internal readonly record struct OutgoingMessage(byte[] Payload, WebSocketMessageType MessageType);

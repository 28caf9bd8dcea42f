// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;

namespace WebSocketPool.Internal;

/// <summary>
/// The resume state of one connection that speaks <c>websocketpool.resume.v1</c>: the sequence of the messages it was
/// sent, the sent messages it has not acknowledged (bounded by <see cref="WebSocketResumeOptions.BufferBytes"/> payload
/// bytes), and its current token. Messages are numbered by the connection's single writer, in the order they go on the
/// wire; acknowledgements come from the receive loop, so every member takes the lock.
/// </summary>
internal sealed class ResumeSession(string token, string secret, int bufferBytes)
{
    private readonly Queue<Buffered> _unacknowledged = new();
    private readonly object _sync = new();
    private long _sent;
    private long _acknowledged;
    private long _bufferedBytes;
    private long _pendingBytes;
    private bool _overflowed;

    /// <summary>Gets the token the client presents to resume this session (it changes on every resume).</summary>
    public string Token { get; private set; } = token;

    /// <summary>Gets the secret the current token carries: only a token with it resumes the session.</summary>
    public string Secret { get; private set; } = secret;

    /// <summary>Gets the highest sequence sent so far (0 before the first message).</summary>
    public long Sent
    {
        get
        {
            lock (_sync)
            {
                return _sent;
            }
        }
    }

    /// <summary>Gets the highest sequence the client has acknowledged.</summary>
    public long Acknowledged
    {
        get
        {
            lock (_sync)
            {
                return _acknowledged;
            }
        }
    }

    /// <summary>Gets the payload bytes of the sent, unacknowledged messages kept for a replay.</summary>
    public long BufferedBytes
    {
        get
        {
            lock (_sync)
            {
                return _bufferedBytes;
            }
        }
    }

    /// <summary>
    /// Gets a value indicating whether the unacknowledged messages outgrew the buffer: what the client missed can no
    /// longer be replayed, so the session cannot be resumed. The connection itself goes on.
    /// </summary>
    public bool Overflowed
    {
        get
        {
            lock (_sync)
            {
                return _overflowed;
            }
        }
    }

    /// <summary>
    /// Counts a message queued for the connection (not yet on the wire) against the buffer: queued and sent messages
    /// alike are what a resume would replay. <see langword="false"/> once the two outgrow
    /// <see cref="WebSocketResumeOptions.BufferBytes"/>: the session has overflowed.
    /// </summary>
    public bool Reserve(int bytes)
    {
        lock (_sync)
        {
            if (_overflowed)
            {
                return false;
            }

            if (_bufferedBytes + _pendingBytes + bytes > bufferBytes)
            {
                // Nothing kept is of use once one message is missing from it: free it all at once.
                _overflowed = true;
                _unacknowledged.Clear();
                _bufferedBytes = 0;
                _pendingBytes = 0;
                return false;
            }

            _pendingBytes += bytes;
            return true;
        }
    }

    /// <summary>Gives back what <see cref="Reserve"/> counted for a queued message that was dropped before it was sent.</summary>
    public void Unreserve(int bytes)
    {
        lock (_sync)
        {
            _pendingBytes = Math.Max(0, _pendingBytes - bytes);
        }
    }

    /// <summary>Numbers the next message as it goes on the wire and keeps it until it is acknowledged; returns its sequence.</summary>
    public long Append(ReadOnlyMemory<byte> payload, WebSocketMessageType type)
    {
        lock (_sync)
        {
            var sequence = ++_sent;
            if (_overflowed)
            {
                return sequence;
            }

            _pendingBytes = Math.Max(0, _pendingBytes - payload.Length);
            _unacknowledged.Enqueue(new Buffered(sequence, payload, type));
            _bufferedBytes += payload.Length;
            return sequence;
        }
    }

    /// <summary>
    /// A cumulative acknowledgement: every message up to <paramref name="sequence"/> arrived. A lower one than before is
    /// ignored (acks may cross); one above what was sent is refused, as the protocol error it is.
    /// </summary>
    /// <returns><see langword="false"/> when <paramref name="sequence"/> is above the highest sequence sent.</returns>
    public bool Acknowledge(long sequence)
    {
        lock (_sync)
        {
            if (sequence > _sent || sequence < 0)
            {
                return false;
            }

            if (sequence <= _acknowledged)
            {
                return true;
            }

            _acknowledged = sequence;
            while (_unacknowledged.TryPeek(out var head) && head.Sequence <= sequence)
            {
                _unacknowledged.Dequeue();
                _bufferedBytes -= head.Payload.Length;
            }

            return true;
        }
    }

    /// <summary>Replaces the token (on a resume: a token resumes at most once).</summary>
    public void Reissue(string token, string secret)
    {
        lock (_sync)
        {
            Token = token;
            Secret = secret;
        }
    }

    /// <summary>
    /// The messages to replay to a client that received up to <paramref name="lastReceived"/>, in order; that sequence
    /// counts as acknowledged. <see langword="null"/> when they cannot be replayed: the session overflowed, or
    /// <paramref name="lastReceived"/> is above what was sent or below what was already freed.
    /// </summary>
    public Buffered[]? TakeReplay(long lastReceived)
    {
        lock (_sync)
        {
            if (_overflowed || lastReceived > _sent || lastReceived < _acknowledged)
            {
                return null;
            }

            _acknowledged = lastReceived;
            while (_unacknowledged.TryPeek(out var head) && head.Sequence <= lastReceived)
            {
                _unacknowledged.Dequeue();
                _bufferedBytes -= head.Payload.Length;
            }

            return [.. _unacknowledged];
        }
    }

    /// <summary>One sent message kept for a replay.</summary>
    public readonly record struct Buffered(long Sequence, ReadOnlyMemory<byte> Payload, WebSocketMessageType Type);
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace LoadHarness.Client;

/// <summary>
/// Counts delivered messages on one connection. Raw modes: one per complete WebSocket message. SignalR: one per
/// invocation record (<c>{"type":1</c>…<c>0x1e</c>), skipping pings and anything else; records may span receives.
/// </summary>
internal sealed class RecordCounter(bool signalR)
{
    private static readonly byte[] s_invocation = "{\"type\":1"u8.ToArray();
    private readonly byte[] _head = new byte[9];
    private int _headLength;

    public int Count(ReadOnlySpan<byte> data, bool endOfMessage)
    {
        if (!signalR)
        {
            return endOfMessage ? 1 : 0;
        }

        var count = 0;
        foreach (var b in data)
        {
            if (b == Wire.RecordSeparator)
            {
                if (_headLength == _head.Length && _head.AsSpan().SequenceEqual(s_invocation))
                {
                    count++;
                }

                _headLength = 0;
            }
            else if (_headLength < _head.Length)
            {
                _head[_headLength++] = b;
            }
        }

        return count;
    }
}

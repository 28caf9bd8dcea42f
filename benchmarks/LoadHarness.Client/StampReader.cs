// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Buffers.Text;
using System.Diagnostics;

namespace LoadHarness.Client;

/// <summary>
/// Counts delivered messages on one connection, like <see cref="RecordCounter"/>, and reads the send timestamp that
/// stamped messages start with (19 digits of <see cref="Stopwatch"/> ticks; see the server's BenchPayload). Raw
/// modes: one message per WebSocket message. SignalR: one per invocation record, whose first argument holds the stamp.
/// </summary>
internal sealed class StampReader(bool signalR)
{
    private const int StampDigits = 19;
    private static readonly byte[] s_invocation = "{\"type\":1"u8.ToArray();
    private static readonly byte[] s_firstArgument = "[\""u8.ToArray();
    private readonly byte[] _message = new byte[256];
    private int _length;

    /// <summary>
    /// Reads one received chunk; adds the latency (arrival − send, in ms) of every complete stamped message to
    /// <paramref name="latenciesMs"/> and returns how many messages it completed.
    /// </summary>
    public int Read(ReadOnlySpan<byte> data, bool endOfMessage, long arrival, List<double> latenciesMs)
    {
        if (!signalR)
        {
            Append(data);
            if (!endOfMessage)
            {
                return 0;
            }

            AddLatency(_message.AsSpan(0, _length), arrival, latenciesMs);
            _length = 0;
            return 1;
        }

        var count = 0;
        while (!data.IsEmpty)
        {
            var end = data.IndexOf(Wire.RecordSeparator);
            if (end < 0)
            {
                Append(data);
                break;
            }

            Append(data[..end]);
            data = data[(end + 1)..];
            var record = _message.AsSpan(0, _length);
            _length = 0;
            if (!record.StartsWith(s_invocation))
            {
                continue; // pings and anything else
            }

            count++;
            var argument = record.IndexOf(s_firstArgument);
            if (argument >= 0)
            {
                AddLatency(record[(argument + s_firstArgument.Length)..], arrival, latenciesMs);
            }
        }

        return count;
    }

    private static void AddLatency(ReadOnlySpan<byte> message, long arrival, List<double> latenciesMs)
    {
        if (message.Length >= StampDigits && Utf8Parser.TryParse(message[..StampDigits], out long sent, out var consumed) && consumed == StampDigits)
        {
            latenciesMs.Add((arrival - sent) * 1000.0 / Stopwatch.Frequency);
        }
    }

    /// <summary>Keeps the start of the message (a stamp is in its first bytes); the rest is only counted.</summary>
    private void Append(ReadOnlySpan<byte> data)
    {
        var room = Math.Min(data.Length, _message.Length - _length);
        data[..room].CopyTo(_message.AsSpan(_length));
        _length += room;
    }
}

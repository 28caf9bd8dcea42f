// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Buffers;
using System.Buffers.Text;
using System.Diagnostics;
using System.Text;

namespace LoadHarness.Server;

/// <summary>
/// The message the server-side send scenarios push: 32 bytes of ASCII text. The stamped form has the same length: the
/// <see cref="Stopwatch"/> timestamp of the send as 19 digits, then the tail of the plain text. Stopwatch ticks read
/// CLOCK_MONOTONIC on Linux, so a receiver in another process on the same machine can subtract them from its own.
/// </summary>
internal static class BenchPayload
{
    public const string Text = "0123456789abcdefghijklmnopqrstuv";

    public const int StampDigits = 19;

    public static readonly byte[] Bytes = Encoding.ASCII.GetBytes(Text);

    private static readonly StandardFormat s_stampFormat = new('D', StampDigits);

    /// <summary>A new array each call: a queued send may still hold the previous one.</summary>
    public static byte[] StampedBytes()
    {
        var bytes = new byte[Bytes.Length];
        Utf8Formatter.TryFormat(Stopwatch.GetTimestamp(), bytes, out _, s_stampFormat);
        Bytes.AsSpan(StampDigits).CopyTo(bytes.AsSpan(StampDigits));
        return bytes;
    }

    public static string StampedText() => string.Create(Text.Length, Stopwatch.GetTimestamp(), static (span, stamp) =>
    {
        stamp.TryFormat(span, out _, "D19", System.Globalization.CultureInfo.InvariantCulture);
        Text.AsSpan(StampDigits).CopyTo(span[StampDigits..]);
    });
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Buffers.Text;
using System.Text;

namespace WebSocketPool.Internal;

/// <summary>
/// The header lines of the resume protocol's frames (<c>docs/resume-protocol.md</c>, section 2): ASCII, a kind letter,
/// fields separated by one space, ending at the first <c>\n</c>.
/// </summary>
internal static class ResumeFrames
{
    private const byte NewLine = (byte)'\n';

    /// <summary>What a client frame is.</summary>
    public enum ClientFrameKind
    {
        /// <summary>Not a frame of the protocol: a protocol error.</summary>
        Invalid,

        /// <summary><c>a &lt;seq&gt;</c>: a cumulative acknowledgement.</summary>
        Ack,

        /// <summary><c>m</c>: an app message, its payload after the header.</summary>
        Message,
    }

    /// <summary>The header of an app message: <c>m &lt;seq&gt;\n</c>.</summary>
    public static byte[] MessageHeader(long sequence)
    {
        Span<byte> digits = stackalloc byte[20];
        Utf8Formatter.TryFormat(sequence, digits, out var written);
        var header = new byte[written + 3];
        header[0] = (byte)'m';
        header[1] = (byte)' ';
        digits[..written].CopyTo(header.AsSpan(2));
        header[^1] = NewLine;
        return header;
    }

    /// <summary>The session frame: <c>s &lt;token&gt; &lt;last&gt;\n</c>.</summary>
    public static byte[] SessionFrame(string token, long acknowledged) =>
        Encoding.ASCII.GetBytes(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"s {token} {acknowledged}\n"));

    /// <summary>Reads a client frame; for a message, <paramref name="payloadStart"/> is where the app's payload begins.</summary>
    public static ClientFrameKind ReadClientFrame(ReadOnlySpan<byte> frame, out long acknowledged, out int payloadStart)
    {
        acknowledged = 0;
        payloadStart = 0;
        var end = frame.IndexOf(NewLine);
        if (end < 1)
        {
            return ClientFrameKind.Invalid;
        }

        var header = frame[..end];
        if (header.Length == 1 && header[0] == (byte)'m')
        {
            payloadStart = end + 1;
            return ClientFrameKind.Message;
        }

        if (header.Length > 2 && header[0] == (byte)'a' && header[1] == (byte)' '
            && Utf8Parser.TryParse(header[2..], out long sequence, out var consumed) && consumed == header.Length - 2 && sequence >= 0
            && end == frame.Length - 1)
        {
            acknowledged = sequence;
            return ClientFrameKind.Ack;
        }

        return ClientFrameKind.Invalid;
    }
}

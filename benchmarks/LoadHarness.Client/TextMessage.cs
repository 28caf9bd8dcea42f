// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace LoadHarness.Client;

/// <summary>
/// A text message the client sends again and again: its payload, and the whole client frame built once (FIN, text,
/// masked with <see cref="MaskKey"/>), so that the light client sends it from one prebuilt buffer. RFC 6455 requires a
/// client to mask every frame; it does not require a fresh key per frame, and the server unmasks whatever key it gets.
/// </summary>
internal sealed class TextMessage
{
    /// <summary>The mask key of every frame the light client sends.</summary>
    public static readonly byte[] MaskKey = [0x37, 0xfa, 0x21, 0x3d];

    public TextMessage(byte[] payload)
    {
        Payload = payload;
        Frame = BuildFrame(0x81, payload);
    }

    public byte[] Payload { get; }

    public byte[] Frame { get; }

    /// <summary>A masked client frame with opcode byte <paramref name="first"/> (FIN and opcode) and a payload of at most 65,535 bytes.</summary>
    public static byte[] BuildFrame(byte first, ReadOnlySpan<byte> payload)
    {
        if (payload.Length > ushort.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(payload), "Prebuilt frames hold at most 65,535 bytes.");
        }

        var header = payload.Length < 126 ? 2 : 4;
        var frame = new byte[header + 4 + payload.Length];
        frame[0] = first;
        if (payload.Length < 126)
        {
            frame[1] = (byte)(0x80 | payload.Length);
        }
        else
        {
            frame[1] = 0x80 | 126;
            frame[2] = (byte)(payload.Length >> 8);
            frame[3] = (byte)payload.Length;
        }

        MaskKey.CopyTo(frame, header);
        for (var i = 0; i < payload.Length; i++)
        {
            frame[header + 4 + i] = (byte)(payload[i] ^ MaskKey[i & 3]);
        }

        return frame;
    }
}

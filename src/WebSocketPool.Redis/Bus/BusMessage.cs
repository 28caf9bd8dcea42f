// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Text;

namespace WebSocketPool.Redis.Internal;

/// <summary>
/// One message between nodes, in a compact binary envelope: version, kind, origin node, target (user, group or
/// connection id), a code (message type or close code), an optional text (close reason or group name), then the
/// payload bytes. The origin lets a node ignore its own broadcasts, which it has already delivered locally.
/// </summary>
internal readonly record struct BusMessage(BusMessageKind Kind, string Origin, string Target, int Code, string? Text, ReadOnlyMemory<byte> Payload)
{
    private const byte Version = 1;

    public byte[] Encode()
    {
        using var stream = new MemoryStream(64 + Payload.Length);
        using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(Version);
            writer.Write((byte)Kind);
            writer.Write(Origin);
            writer.Write(Target);
            writer.Write(Code);
            writer.Write(Text is not null);
            if (Text is not null)
            {
                writer.Write(Text);
            }

            writer.Write(Payload.Span);
        }

        return stream.ToArray();
    }

    /// <summary>Decodes an envelope; the payload is copied out, so it may outlive the received buffer.</summary>
    public static bool TryDecode(byte[] data, out BusMessage message)
    {
        message = default;
        try
        {
            using var stream = new MemoryStream(data, writable: false);
            using var reader = new BinaryReader(stream, Encoding.UTF8);
            if (reader.ReadByte() != Version)
            {
                return false;
            }

            var kind = (BusMessageKind)reader.ReadByte();
            var origin = reader.ReadString();
            var target = reader.ReadString();
            var code = reader.ReadInt32();
            var text = reader.ReadBoolean() ? reader.ReadString() : null;
            var offset = (int)stream.Position;
            message = new BusMessage(kind, origin, target, code, text, data.AsSpan(offset).ToArray());
            return Enum.IsDefined(kind);
        }
        catch (EndOfStreamException)
        {
            return false;
        }
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using System.Text;
using WebSocketPool.Internal;

namespace WebSocketPool.Redis.Internal;

/// <summary>
/// One message between nodes, in a compact binary envelope: version, kind, origin node, target (user, group or
/// connection id), a code (message type, close code or request id), an optional text (close reason or group name),
/// then the payload bytes. The origin lets a node ignore its own publications, which it has already delivered locally.
/// </summary>
internal readonly record struct BusMessage(BusMessageKind Kind, string Origin, string Target, int Code, string? Text, ReadOnlyMemory<byte> Payload)
{
    /// <summary>2 since messages are routed by interest (user, group, node channels); a node of another version counts them malformed.</summary>
    private const byte Version = 2;

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

    /// <summary>
    /// Decodes an envelope and checks that it carries what its kind needs; anything else is malformed and answers
    /// <see langword="false"/> (never an exception). The payload is copied out, so it may outlive the received buffer.
    /// </summary>
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
            return IsWellFormed(message);
        }
        catch (Exception ex) when (ex is IOException or FormatException or ArgumentException)
        {
            // A short buffer, a bad length prefix or a string that does not decode.
            message = default;
            return false;
        }
    }

    /// <summary>What each kind must carry; a kick's close code and reason must be ones the public API would accept.</summary>
    private static bool IsWellFormed(in BusMessage message)
    {
        if (message.Origin.Length == 0)
        {
            return false;
        }

        var hasTarget = message.Target.Length > 0;
        var noPayload = message.Payload.IsEmpty;
        return message.Kind switch
        {
            BusMessageKind.User or BusMessageKind.Group or BusMessageKind.Connection =>
                hasTarget && IsMessageType(message.Code) && message.Text is null,
            BusMessageKind.All => IsMessageType(message.Code) && message.Text is null,
            BusMessageKind.KickUser or BusMessageKind.KickConnection =>
                hasTarget && noPayload && CloseArguments.IsSendable(message.Code) && CloseArguments.IsValidReason(message.Text),
            BusMessageKind.AddToGroup or BusMessageKind.RemoveFromGroup =>
                hasTarget && noPayload && message.Code >= 0 && !string.IsNullOrEmpty(message.Text),
            BusMessageKind.GroupAck => message.Code > 0 && message.Payload.Length == 1 && message.Payload.Span[0] <= 1,
            BusMessageKind.Probe => noPayload,
            _ => false,
        };
    }

    private static bool IsMessageType(int code) => code is (int)WebSocketMessageType.Text or (int)WebSocketMessageType.Binary;
}

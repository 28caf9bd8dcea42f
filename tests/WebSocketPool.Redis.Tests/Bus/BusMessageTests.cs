// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using WebSocketPool.Redis.Internal;

namespace WebSocketPool.Redis.Tests.Bus;

public sealed class BusMessageTests
{
    [Fact]
    public void Encode_ThenDecode_RoundTripsEveryField()
    {
        var message = new BusMessage(BusMessageKind.Connection, "abcdef0123", "abcdef0123-42", 1, null, new byte[] { 1, 2, 3 });

        var ok = BusMessage.TryDecode(message.Encode(), out var decoded);

        ok.Should().BeTrue();
        decoded.Kind.Should().Be(BusMessageKind.Connection);
        decoded.Origin.Should().Be("abcdef0123");
        decoded.Target.Should().Be("abcdef0123-42");
        decoded.Code.Should().Be(1);
        decoded.Text.Should().BeNull();
        decoded.Payload.ToArray().Should().Equal(1, 2, 3);
    }

    [Fact]
    public void Decode_NullTextAndEmptyPayload_RoundTrips()
    {
        var message = new BusMessage(BusMessageKind.All, "n", string.Empty, 1, null, ReadOnlyMemory<byte>.Empty);

        BusMessage.TryDecode(message.Encode(), out var decoded).Should().BeTrue();

        decoded.Text.Should().BeNull();
        decoded.Payload.Length.Should().Be(0);
    }

    [Theory]
    [InlineData(new byte[0])]
    [InlineData(new byte[] { 9, 1 })]
    [InlineData(new byte[] { 1, 99, 0, 0, 0, 0, 0, 0, 0 })]
    [InlineData(new byte[] { 2, 1, 5, 65 })]
    [InlineData(new byte[] { 2, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01 })]
    public void Decode_Malformed_ReturnsFalse(byte[] data)
    {
        BusMessage.TryDecode(data, out _).Should().BeFalse();
    }

    private static readonly Dictionary<string, BusMessage> s_wellFormed = new()
    {
        ["send to a user"] = new(BusMessageKind.User, "n", "alice", 0, null, new byte[] { 1 }),
        ["binary send to a group"] = new(BusMessageKind.Group, "n", "room", 1, null, new byte[] { 1 }),
        ["empty send to everyone"] = new(BusMessageKind.All, "n", string.Empty, 0, null, ReadOnlyMemory<byte>.Empty),
        ["kick a user"] = new(BusMessageKind.KickUser, "n", "alice", 4003, "bye", ReadOnlyMemory<byte>.Empty),
        ["send to a connection"] = new(BusMessageKind.Connection, "n", "n-1", 0, null, new byte[] { 1 }),
        ["evict a connection"] = new(BusMessageKind.KickConnection, "n", "n-1", 4001, null, ReadOnlyMemory<byte>.Empty),
        ["join without an answer"] = new(BusMessageKind.AddToGroup, "n", "n-1", 0, "room", ReadOnlyMemory<byte>.Empty),
        ["leave with an answer"] = new(BusMessageKind.RemoveFromGroup, "n", "n-1", 7, "room", ReadOnlyMemory<byte>.Empty),
        ["an answer"] = new(BusMessageKind.GroupAck, "n", "n-1", 7, null, new byte[] { 1 }),
        ["a probe"] = new(BusMessageKind.Probe, "n", string.Empty, 3, null, ReadOnlyMemory<byte>.Empty),
    };

    private static readonly Dictionary<string, BusMessage> s_malformed = new()
    {
        ["no origin"] = new(BusMessageKind.All, string.Empty, string.Empty, 0, null, ReadOnlyMemory<byte>.Empty),
        ["send to no user"] = new(BusMessageKind.User, "n", string.Empty, 0, null, new byte[] { 1 }),
        ["message type Close"] = new(BusMessageKind.Group, "n", "room", 2, null, new byte[] { 1 }),
        ["a send with a text"] = new(BusMessageKind.Connection, "n", "n-1", 0, "text", new byte[] { 1 }),
        ["kick with close code 999"] = new(BusMessageKind.KickUser, "n", "alice", 999, null, ReadOnlyMemory<byte>.Empty),
        ["kick with reserved close code 1005"] = new(BusMessageKind.KickConnection, "n", "n-1", 1005, null, ReadOnlyMemory<byte>.Empty),
        ["kick with a reason too long"] = new(BusMessageKind.KickUser, "n", "alice", 4003, new string('é', 62), ReadOnlyMemory<byte>.Empty),
        ["kick with a payload"] = new(BusMessageKind.KickConnection, "n", "n-1", 4001, null, new byte[] { 1 }),
        ["join without a group name"] = new(BusMessageKind.AddToGroup, "n", "n-1", 0, null, ReadOnlyMemory<byte>.Empty),
        ["join with an empty group name"] = new(BusMessageKind.AddToGroup, "n", "n-1", 0, string.Empty, ReadOnlyMemory<byte>.Empty),
        ["leave without a connection"] = new(BusMessageKind.RemoveFromGroup, "n", string.Empty, 0, "room", ReadOnlyMemory<byte>.Empty),
        ["join with a negative request id"] = new(BusMessageKind.AddToGroup, "n", "n-1", -1, "room", ReadOnlyMemory<byte>.Empty),
        ["an answer to no request"] = new(BusMessageKind.GroupAck, "n", "n-1", 0, null, new byte[] { 1 }),
        ["an answer that is neither yes nor no"] = new(BusMessageKind.GroupAck, "n", "n-1", 7, null, new byte[] { 2 }),
        ["an unknown kind"] = new((BusMessageKind)99, "n", "n-1", 0, null, ReadOnlyMemory<byte>.Empty),
    };

    public static TheoryData<string> WellFormed => new(s_wellFormed.Keys);

    public static TheoryData<string> Malformed => new(s_malformed.Keys);

    [Theory]
    [MemberData(nameof(WellFormed))]
    public void Decode_WellFormedKind_ReturnsTrue(string message)
    {
        BusMessage.TryDecode(s_wellFormed[message].Encode(), out var decoded).Should().BeTrue(message);
        decoded.Kind.Should().Be(s_wellFormed[message].Kind);
    }

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Decode_KindMissingWhatItNeeds_ReturnsFalse(string message)
    {
        BusMessage.TryDecode(s_malformed[message].Encode(), out _).Should().BeFalse(message);
    }
}

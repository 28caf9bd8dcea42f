// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using WebSocketPool.Redis.Internal;

namespace WebSocketPool.Redis.Tests;

public sealed class BusMessageTests
{
    [Fact]
    public void Encode_ThenDecode_RoundTripsEveryField()
    {
        var message = new BusMessage(BusMessageKind.KickConnection, "abcdef0123", "abcdef0123-42", 4001, "Replaced by a newer connection.", new byte[] { 1, 2, 3 });

        var ok = BusMessage.TryDecode(message.Encode(), out var decoded);

        ok.Should().BeTrue();
        decoded.Kind.Should().Be(BusMessageKind.KickConnection);
        decoded.Origin.Should().Be("abcdef0123");
        decoded.Target.Should().Be("abcdef0123-42");
        decoded.Code.Should().Be(4001);
        decoded.Text.Should().Be("Replaced by a newer connection.");
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
    [InlineData(new byte[] { 1, 1, 5, 65 })]
    public void Decode_Malformed_ReturnsFalse(byte[] data)
    {
        BusMessage.TryDecode(data, out _).Should().BeFalse();
    }
}

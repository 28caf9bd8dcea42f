// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using System.Text;
using WebSocketPool.Internal;

namespace WebSocketPool.Tests.Resumption;

/// <summary>
/// The per-connection buffer of the resume protocol: numbered in order, freed by cumulative acks, bounded by
/// BufferBytes (queued and sent together), and a replay only of what the client can be missing.
/// </summary>
public sealed class ResumeSessionTests
{
    [Fact]
    public void Acknowledge_Cumulative_FreesEverythingUpToItAndIgnoresOlderAcks()
    {
        var session = new ResumeSession("t", "s", 1024);
        for (var i = 0; i < 10; i++)
        {
            session.Reserve(10).Should().BeTrue();
            session.Append(new byte[10], WebSocketMessageType.Text).Should().Be(i + 1);
        }

        session.Acknowledge(6).Should().BeTrue();
        session.BufferedBytes.Should().Be(40);
        session.Acknowledge(3).Should().BeTrue("acks may cross; an older one changes nothing");
        session.Acknowledged.Should().Be(6);
        session.BufferedBytes.Should().Be(40);
        session.Acknowledge(11).Should().BeFalse("an ack above what was sent is a protocol error");
    }

    [Fact]
    public void Unreserve_DroppedBeforeSent_FreesItsBytes()
    {
        var session = new ResumeSession("t", "s", 100);
        session.Reserve(60).Should().BeTrue();
        session.Reserve(30).Should().BeTrue();

        session.Unreserve(60);

        session.Reserve(60).Should().BeTrue("the dropped 60 bytes are no longer counted");
        session.Overflowed.Should().BeFalse();
        session.Reserve(20).Should().BeFalse("30 and 60 queued leave room for 10");
    }

    [Fact]
    public void Reserve_QueuedAndSentTogetherOverTheBound_Overflows()
    {
        var session = new ResumeSession("t", "s", 100);
        session.Reserve(60).Should().BeTrue();
        session.Append(new byte[60], WebSocketMessageType.Binary);
        session.Reserve(30).Should().BeTrue();

        session.Reserve(20).Should().BeFalse("60 sent and 30 queued leave room for 10");

        session.Overflowed.Should().BeTrue();
        session.BufferedBytes.Should().Be(0, "nothing kept is of use once the session cannot be replayed");
        session.TakeReplay(0).Should().BeNull();
        session.Acknowledge(1).Should().BeTrue();
        session.Reserve(1).Should().BeFalse("an overflowed session stays overflowed");
    }

    [Theory]
    [InlineData(0, new long[] { 3, 4, 5 })]
    [InlineData(4, new long[] { 5 })]
    [InlineData(5, new long[0])]
    public void TakeReplay_FromLastReceived_ReturnsTheRestInOrder(long last, long[] expected)
    {
        var session = new ResumeSession("t", "s", 1024);
        for (var i = 1; i <= 5; i++)
        {
            session.Reserve(1);
            session.Append(Encoding.ASCII.GetBytes(i.ToString(System.Globalization.CultureInfo.InvariantCulture)), WebSocketMessageType.Text);
        }

        session.Acknowledge(2).Should().BeTrue();
        if (last < 2)
        {
            session.TakeReplay(last).Should().BeNull("the client cannot have received less than it acknowledged");
            return;
        }

        var replay = session.TakeReplay(last)!;
        replay.Select(m => m.Sequence).Should().Equal(expected);
        replay.Select(m => Encoding.ASCII.GetString(m.Payload.Span)).Should().Equal(expected.Select(e => e.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        session.Acknowledged.Should().Be(last, "what the client says it received counts as acknowledged");
    }

    [Fact]
    public void TakeReplay_AboveWhatWasSent_IsRefused()
    {
        var session = new ResumeSession("t", "s", 1024);
        session.Reserve(1);
        session.Append(new byte[1], WebSocketMessageType.Text);

        session.TakeReplay(2).Should().BeNull();
    }

    [Theory]
    [InlineData("a 12\n", "ack", 12, 0)]
    [InlineData("m\nhello", "message", 0, 2)]
    [InlineData("m\n", "message", 0, 2)]
    [InlineData("a 12\nx", "invalid", 0, 0)]
    [InlineData("a x\n", "invalid", 0, 0)]
    [InlineData("a \n", "invalid", 0, 0)]
    [InlineData("m 3\nhello", "invalid", 0, 0)]
    [InlineData("hello", "invalid", 0, 0)]
    [InlineData("\nhello", "invalid", 0, 0)]
    public void ReadClientFrame_Header_IsReadExactly(string frame, string kind, long ack, int payloadStart)
    {
        ResumeFrames.ReadClientFrame(Encoding.ASCII.GetBytes(frame), out var acknowledged, out var start).ToString().ToLowerInvariant().Should().Be(kind);
        acknowledged.Should().Be(ack);
        start.Should().Be(payloadStart);
    }

    [Fact]
    public void MessageHeader_IsTheSequenceInDecimal()
    {
        Encoding.ASCII.GetString(ResumeFrames.MessageHeader(1)).Should().Be("m 1\n");
        Encoding.ASCII.GetString(ResumeFrames.MessageHeader(long.MaxValue)).Should().Be("m 9223372036854775807\n");
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Text;
using WebSocketPool.Client.Internal;

namespace WebSocketPool.Client.Tests.Admission;

public sealed class RefusalTests
{
    private static readonly DateTimeOffset s_now = new(2026, 11, 30, 1, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData("5", 5)]
    [InlineData(" 12 ", 12)]
    [InlineData("0", 0)]
    [InlineData("Mon, 30 Nov 2026 01:00:30 GMT", 30)]
    [InlineData("Mon, 30 Nov 2026 00:59:00 GMT", 0)]
    public void ParseRetryAfter_SecondsOrDate_IsTheWait(string value, int expectedSeconds)
    {
        // Act
        var wait = Refusal.ParseRetryAfter(value, s_now);

        // Assert
        wait.Should().Be(TimeSpan.FromSeconds(expectedSeconds));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("soon")]
    [InlineData("-5")]
    public void ParseRetryAfter_MissingOrInvalid_IsNone(string? value)
    {
        // Act
        var wait = Refusal.ParseRetryAfter(value, s_now);

        // Assert
        wait.Should().BeNull();
    }

    [Fact]
    public void FromProblem_PoolBody_ReadsReasonLimitCurrentAndDetail()
    {
        // Arrange
        var body = Encoding.UTF8.GetBytes("""{"type":"urn:websocketpool:problem:user_limit","title":"Too many connections","status":429,"detail":"You have 3 of 3 allowed connections open.","reason":"user_limit","limit":3,"current":3}""");

        // Act
        var refusal = Refusal.FromProblem(429, body, TimeSpan.FromSeconds(5), fromPreview: true);

        // Assert
        refusal.Should().Be(new Refusal(429, "user_limit", 3, 3, TimeSpan.FromSeconds(5), "You have 3 of 3 allowed connections open.", true));
        refusal.CloseClass.Should().Be(WebSocketPoolCloseClass.Backoff);
    }

    [Fact]
    public void FromProblem_NotJson_KeepsTheStatusAlone()
    {
        // Act
        var refusal = Refusal.FromProblem(503, "<html>busy</html>"u8, null, fromPreview: true);

        // Assert
        refusal.Should().Be(new Refusal(503, null, null, null, null, null, true));
    }
}

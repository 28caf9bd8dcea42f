// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using WebSocketPool.Client.Internal;

namespace WebSocketPool.Client.Tests.Policy;

public sealed class ClosePolicyTests
{
    [Theory]
    [InlineData(4001, WebSocketPoolCloseClass.Terminal)]
    [InlineData(4003, WebSocketPoolCloseClass.Terminal)]
    [InlineData(1002, WebSocketPoolCloseClass.Terminal)]
    [InlineData(1007, WebSocketPoolCloseClass.Terminal)]
    [InlineData(1009, WebSocketPoolCloseClass.Terminal)]
    [InlineData(1000, WebSocketPoolCloseClass.Terminal)]
    [InlineData(1006, WebSocketPoolCloseClass.Backoff)]
    [InlineData(1008, WebSocketPoolCloseClass.Backoff)]
    [InlineData(1011, WebSocketPoolCloseClass.Backoff)]
    [InlineData(1013, WebSocketPoolCloseClass.Backoff)]
    [InlineData(4002, WebSocketPoolCloseClass.Backoff)]
    [InlineData(1001, WebSocketPoolCloseClass.Prompt)]
    [InlineData(1012, WebSocketPoolCloseClass.Prompt)]
    [InlineData(4004, WebSocketPoolCloseClass.Prompt)]
    [InlineData(1003, WebSocketPoolCloseClass.Terminal)]
    [InlineData(1014, WebSocketPoolCloseClass.Backoff)]
    [InlineData(3000, WebSocketPoolCloseClass.Backoff)]
    [InlineData(4005, WebSocketPoolCloseClass.Terminal)]
    [InlineData(4999, WebSocketPoolCloseClass.Backoff)]
    public void ClassifyClose_Code_IsInTheTablesClass(int code, WebSocketPoolCloseClass expected)
    {
        // Act
        var actual = ClosePolicy.ClassifyClose(code);

        // Assert
        actual.Should().Be(expected);
    }

    [Fact]
    public void ClassifyClose_NoCloseFrame_IsBackoff()
    {
        // Act
        var actual = ClosePolicy.ClassifyClose(null);

        // Assert
        actual.Should().Be(WebSocketPoolCloseClass.Backoff);
    }

    [Theory]
    [InlineData(401, WebSocketPoolCloseClass.Terminal)]
    [InlineData(403, WebSocketPoolCloseClass.Terminal)]
    [InlineData(429, WebSocketPoolCloseClass.Backoff)]
    [InlineData(503, WebSocketPoolCloseClass.Backoff)]
    [InlineData(400, WebSocketPoolCloseClass.Terminal)]
    [InlineData(404, WebSocketPoolCloseClass.Terminal)]
    [InlineData(500, WebSocketPoolCloseClass.Backoff)]
    [InlineData(502, WebSocketPoolCloseClass.Backoff)]
    public void ClassifyRefusal_Status_IsInTheTablesClass(int status, WebSocketPoolCloseClass expected)
    {
        // Act
        var actual = ClosePolicy.ClassifyRefusal(status);

        // Assert
        actual.Should().Be(expected);
    }
}

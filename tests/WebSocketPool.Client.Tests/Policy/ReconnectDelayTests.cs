// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using WebSocketPool.Client.Internal;

namespace WebSocketPool.Client.Tests.Policy;

public sealed class ReconnectDelayTests
{
    private static readonly ReconnectSettings s_settings = new(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(400));

    [Theory]
    [InlineData(1, 500)]
    [InlineData(2, 1_000)]
    [InlineData(3, 2_000)]
    [InlineData(5, 8_000)]
    [InlineData(6, 15_000)]
    [InlineData(7, 15_000)]
    [InlineData(1_000, 15_000)]
    [InlineData(int.MaxValue, 15_000)]
    public void Compute_Backoff_IsTheDrawOfTheCappedExponentialStep(int attempt, int expectedMilliseconds)
    {
        // Act
        var delay = ReconnectDelay.Compute(WebSocketPoolCloseClass.Backoff, attempt, null, s_settings, draw: 0.5);

        // Assert
        delay.Should().Be(TimeSpan.FromMilliseconds(expectedMilliseconds));
    }

    [Theory]
    [InlineData(0.0, 0)]
    [InlineData(0.25, 100)]
    [InlineData(0.999, 399.6)]
    public void Compute_Prompt_IsTheDrawOfTheShortMaximumWhateverTheAttempt(double draw, double expectedMilliseconds)
    {
        // Act
        var first = ReconnectDelay.Compute(WebSocketPoolCloseClass.Prompt, 1, null, s_settings, draw);
        var tenth = ReconnectDelay.Compute(WebSocketPoolCloseClass.Prompt, 10, null, s_settings, draw);

        // Assert
        first.Should().Be(TimeSpan.FromMilliseconds(expectedMilliseconds));
        tenth.Should().Be(first);
    }

    [Fact]
    public void Compute_RetryAfterLongerThanTheDraw_IsTheFloor()
    {
        // Act
        var delay = ReconnectDelay.Compute(WebSocketPoolCloseClass.Backoff, 1, TimeSpan.FromSeconds(5), s_settings, draw: 0.999);

        // Assert
        delay.Should().Be(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void Compute_RetryAfterShorterThanTheDraw_KeepsTheDraw()
    {
        // Act
        var delay = ReconnectDelay.Compute(WebSocketPoolCloseClass.Backoff, 6, TimeSpan.FromSeconds(1), s_settings, draw: 0.5);

        // Assert
        delay.Should().Be(TimeSpan.FromSeconds(15));
    }

    [Fact]
    public void Compute_FullJitter_SpreadsOverTheWholeStep()
    {
        // Act
        var lowest = ReconnectDelay.Compute(WebSocketPoolCloseClass.Backoff, 4, null, s_settings, draw: 0);
        var highest = ReconnectDelay.Compute(WebSocketPoolCloseClass.Backoff, 4, null, s_settings, draw: 0.999999);

        // Assert
        lowest.Should().Be(TimeSpan.Zero);
        highest.Should().BeCloseTo(TimeSpan.FromSeconds(8), TimeSpan.FromMilliseconds(1));
    }
}

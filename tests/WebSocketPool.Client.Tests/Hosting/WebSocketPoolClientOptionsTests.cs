// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using Microsoft.Extensions.Options;

namespace WebSocketPool.Client.Tests.Hosting;

public sealed class WebSocketPoolClientOptionsTests
{
    private static readonly Uri s_uri = new("ws://127.0.0.1:9/ws?user=a");

    public static TheoryData<string, Action<WebSocketPoolClientOptions>, string> InvalidOptions => new()
    {
        { "no uri", o => o.Uri = null, "Uri" },
        { "http scheme", o => o.Uri = new Uri("http://127.0.0.1/ws"), "ws://" },
        { "https scheme", o => o.Uri = new Uri("https://127.0.0.1/ws"), "wss://" },
        { "relative", o => o.Uri = new Uri("/ws", UriKind.Relative), "absolute" },
        { "empty subprotocol", o => o.SubProtocols.Add(" "), "SubProtocols" },
        { "zero base delay", o => o.ReconnectBaseDelay = TimeSpan.Zero, "ReconnectBaseDelay" },
        { "negative base delay", o => o.ReconnectBaseDelay = TimeSpan.FromSeconds(-1), "ReconnectBaseDelay" },
        { "max below base", o => o.ReconnectMaxDelay = TimeSpan.FromMilliseconds(499), "ReconnectMaxDelay" },
        { "negative prompt delay", o => o.PromptReconnectMaxDelay = TimeSpan.FromMilliseconds(-1), "PromptReconnectMaxDelay" },
        { "negative attempts", o => o.MaxReconnectAttempts = -1, "MaxReconnectAttempts" },
        { "no send queue", o => o.SendQueueCapacity = 0, "SendQueueCapacity" },
        { "no send bytes", o => o.SendQueueMaxBytes = 0, "SendQueueMaxBytes" },
        { "no receive queue", o => o.ReceiveQueueCapacity = 0, "ReceiveQueueCapacity" },
        { "no message size", o => o.MaxReceiveMessageBytes = 0, "MaxReceiveMessageBytes" },
        { "negative keep-alive", o => o.KeepAliveInterval = TimeSpan.FromSeconds(-1), "KeepAliveInterval" },
        { "zero keep-alive timeout", o => o.KeepAliveTimeout = TimeSpan.Zero, "KeepAliveTimeout" },
        { "zero connect timeout", o => o.ConnectTimeout = TimeSpan.Zero, "ConnectTimeout" },
        { "negative close timeout", o => o.CloseTimeout = TimeSpan.FromSeconds(-1), "CloseTimeout" },
    };

    [Theory]
    [MemberData(nameof(InvalidOptions))]
    public void Constructor_InvalidOption_ThrowsNamingIt(string because, Action<WebSocketPoolClientOptions> change, string named)
    {
        // Arrange
        var options = new WebSocketPoolClientOptions { Uri = s_uri };
        change(options);

        // Act
        var create = () => new WebSocketPoolClient(options);

        // Assert
        create.Should().Throw<OptionsValidationException>(because).Which.Message.Should().Contain(named);
    }

    [Fact]
    public void Constructor_NullOptions_Throws()
    {
        // Act
        var create = () => new WebSocketPoolClient(null!);

        // Assert
        create.Should().Throw<ArgumentNullException>().WithParameterName("options");
    }

    [Fact]
    public async Task Constructor_SmallAndLargeLegalValues_Validate()
    {
        // Arrange
        var options = new WebSocketPoolClientOptions
        {
            Uri = new Uri("wss://example.test/ws"),
            ReconnectBaseDelay = TimeSpan.FromMilliseconds(1),
            ReconnectMaxDelay = TimeSpan.FromMilliseconds(1),
            PromptReconnectMaxDelay = TimeSpan.Zero,
            MaxReconnectAttempts = 0,
            SendQueueCapacity = 1,
            SendQueueMaxBytes = 1,
            KeepAliveInterval = TimeSpan.Zero,
            KeepAliveTimeout = Timeout.InfiniteTimeSpan,
            CloseTimeout = TimeSpan.Zero,
        };

        // Act
        await using var client = new WebSocketPoolClient(options);

        // Assert
        client.State.Should().Be(WebSocketPoolClientState.Created);
    }

    [Fact]
    public async Task Constructor_CopiesTheOptions_LaterChangesDoNotReachTheClient()
    {
        // Arrange
        var options = new WebSocketPoolClientOptions { Uri = s_uri };
        await using var client = new WebSocketPoolClient(options);

        // Act
        options.Uri = null;
        options.SendQueueCapacity = 0;

        // Assert
        client.State.Should().Be(WebSocketPoolClientState.Created);
    }

    [Fact]
    public async Task UseAfterDispose_ThrowsObjectDisposed_AndDisposeAgainIsHarmless()
    {
        // Arrange
        var client = new WebSocketPoolClient(new WebSocketPoolClientOptions { Uri = s_uri });
        var events = new ClientEvents(client);
        await client.DisposeAsync();

        // Act
        var start = () => client.StartAsync();
        var send = async () => await client.SendTextAsync("x");
        var sendBytes = async () => await client.SendAsync(new byte[1], WebSocketMessageType.Binary);
        var read = () => client.ReadAllAsync();
        var disposeAgain = async () => await client.DisposeAsync();
        var stop = () => client.StopAsync();

        // Assert
        await start.Should().ThrowAsync<ObjectDisposedException>();
        await send.Should().ThrowAsync<ObjectDisposedException>();
        await sendBytes.Should().ThrowAsync<ObjectDisposedException>();
        read.Should().Throw<ObjectDisposedException>();
        await disposeAgain.Should().NotThrowAsync();
        await stop.Should().NotThrowAsync();
        client.State.Should().Be(WebSocketPoolClientState.Closed);
        events.Closed.Should().ContainSingle().Which.ByApplication.Should().BeTrue();
    }

    [Fact]
    public async Task SendAsync_BadArgumentsOrNotStarted_Throws()
    {
        // Arrange
        await using var client = new WebSocketPoolClient(new WebSocketPoolClientOptions { Uri = s_uri });

        // Act
        var closeFrame = async () => await client.SendAsync(new byte[1], WebSocketMessageType.Close);
        var nullText = async () => await client.SendTextAsync(null!);
        var notStarted = async () => await client.SendTextAsync("x");

        // Assert
        await closeFrame.Should().ThrowAsync<ArgumentOutOfRangeException>();
        await nullText.Should().ThrowAsync<ArgumentNullException>();
        (await notStarted.Should().ThrowAsync<InvalidOperationException>()).WithMessage("*StartAsync*");
    }
}

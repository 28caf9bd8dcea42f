// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Time.Testing;

namespace WebSocketPool.Client.Tests.Connections;

/// <summary>
/// The close-code table against the real pool: a handler closes the client's connection with a given code, and the
/// client stops for good, or reconnects after the delay it computed (read from its event, with a fixed draw and a fake
/// clock that the test moves on, never from elapsed time).
/// </summary>
public sealed class CloseCodeTests(CommandServerFixture fixture) : IClassFixture<CommandServerFixture>
{
    private const double Draw = 0.5;

    [Theory]
    [InlineData(1011, WebSocketPoolCloseClass.Backoff)]
    [InlineData(1008, WebSocketPoolCloseClass.Backoff)]
    [InlineData(1013, WebSocketPoolCloseClass.Backoff)]
    [InlineData(4002, WebSocketPoolCloseClass.Backoff)]
    [InlineData(1001, WebSocketPoolCloseClass.Prompt)]
    [InlineData(1012, WebSocketPoolCloseClass.Prompt)]
    [InlineData(4004, WebSocketPoolCloseClass.Prompt)]
    public async Task ServerCloses_RetryableCode_ReconnectsAfterTheComputedDelay(int code, WebSocketPoolCloseClass expected)
    {
        // Arrange
        var user = ClientTestServer.NewUser("retry");
        var time = new FakeTimeProvider();
        var options = ClientTestServer.Options(fixture.Server.BaseUri, user);
        await using var client = new WebSocketPoolClient(options, timeProvider: time, random: new FixedRandom(Draw));
        var events = new ClientEvents(client);
        await client.StartAsync();

        // Act
        await client.SendTextAsync($"close:{code}");
        var reconnecting = await events.WaitForAsync<WebSocketPoolReconnectingEventArgs>();
        var stateWhileWaiting = client.State;
        time.Advance(reconnecting.Delay);
        await events.WaitForAsync<WebSocketPoolReconnectedEventArgs>();
        await client.EchoAsync("back again");

        // Assert
        var expectedDelay = expected == WebSocketPoolCloseClass.Prompt ? options.PromptReconnectMaxDelay * Draw : options.ReconnectBaseDelay * Draw;
        reconnecting.Attempt.Should().Be(1);
        reconnecting.CloseStatus.Should().Be(code);
        reconnecting.CloseClass.Should().Be(expected);
        reconnecting.Delay.Should().Be(expectedDelay);
        stateWhileWaiting.Should().Be(WebSocketPoolClientState.Reconnecting);
        client.State.Should().Be(WebSocketPoolClientState.Connected);
        events.Closed.Should().BeEmpty();
    }

    [Fact]
    public async Task ConnectionDropsWithoutCloseFrame_BacksOff()
    {
        // Arrange
        var user = ClientTestServer.NewUser("drop");
        var time = new FakeTimeProvider();
        await using var client = new WebSocketPoolClient(ClientTestServer.Options(fixture.Server.BaseUri, user), timeProvider: time, random: new FixedRandom(Draw));
        var events = new ClientEvents(client);
        await client.StartAsync();

        // Act
        await client.SendTextAsync("abort");
        var reconnecting = await events.WaitForAsync<WebSocketPoolReconnectingEventArgs>();
        time.Advance(reconnecting.Delay);
        await events.WaitForAsync<WebSocketPoolReconnectedEventArgs>();

        // Assert
        reconnecting.CloseStatus.Should().BeNull("no close frame came: 1006");
        reconnecting.CloseClass.Should().Be(WebSocketPoolCloseClass.Backoff);
        reconnecting.Delay.Should().Be(TimeSpan.FromSeconds(1));
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(1002)]
    [InlineData(1003)]
    [InlineData(1007)]
    [InlineData(1009)]
    [InlineData(4001)]
    [InlineData(4003)]
    [InlineData(4005)]
    public async Task ServerCloses_TerminalCode_ClosesForGoodWithoutReconnecting(int code)
    {
        // Arrange
        var user = ClientTestServer.NewUser("terminal");
        await using var client = new WebSocketPoolClient(ClientTestServer.Options(fixture.Server.BaseUri, user), timeProvider: new FakeTimeProvider(), random: new FixedRandom(0));
        var events = new ClientEvents(client);
        await client.StartAsync();
        var reading = ReadToEndAsync(client);

        // Act
        await client.SendTextAsync($"close:{code}");
        var closed = await events.WaitForAsync<WebSocketPoolClosedEventArgs>();
        await reading.WaitAsync(TimeSpan.FromSeconds(20));
        await PoolTestServer.WaitUntilAsync(() => fixture.Server.Factory.GetConnectionCount(user) == 0, TimeSpan.FromSeconds(20), "the server released the connection");

        // Assert
        closed.CloseStatus.Should().Be(code);
        closed.CloseClass.Should().Be(WebSocketPoolCloseClass.Terminal);
        closed.ByApplication.Should().BeFalse();
        closed.Description.Should().Be($"closed with {code}: closed by the test");
        client.State.Should().Be(WebSocketPoolClientState.Closed);
        events.Reconnecting.Should().BeEmpty();
        (await reading).Should().Be(0, "the enumeration ends when the client closes");
        var send = async () => await client.SendTextAsync("too late");
        await send.Should().ThrowAsync<InvalidOperationException>();
    }

    [Fact]
    public async Task ServerKicksTheUser_4003_ClosesForGoodAndNeverReconnects()
    {
        // Arrange
        var user = ClientTestServer.NewUser("kicked");
        await using var client = new WebSocketPoolClient(ClientTestServer.Options(fixture.Server.BaseUri, user), timeProvider: new FakeTimeProvider(), random: new FixedRandom(0));
        var events = new ClientEvents(client);
        await client.StartAsync();

        // Act
        var kicked = fixture.Server.Factory.DisconnectUser(user);
        var closed = await events.WaitForAsync<WebSocketPoolClosedEventArgs>();
        await PoolTestServer.WaitUntilAsync(() => fixture.Server.Factory.GetConnectionCount(user) == 0, TimeSpan.FromSeconds(20), "the kicked connection ended");

        // Assert
        kicked.Should().Be(1);
        closed.CloseStatus.Should().Be(4003);
        closed.CloseClass.Should().Be(WebSocketPoolCloseClass.Terminal);
        events.Reconnecting.Should().BeEmpty();
        events.Reconnected.Should().BeEmpty();
        client.State.Should().Be(WebSocketPoolClientState.Closed);
        fixture.Server.Factory.GetConnectionCount(user).Should().Be(0, "a zero draw would have reconnected at once had the client tried");
    }

    [Fact]
    public async Task ReadAllAsync_Messages_OwnTheirPayload()
    {
        // Arrange
        var user = ClientTestServer.NewUser("owned");
        await using var client = new WebSocketPoolClient(ClientTestServer.Options(fixture.Server.BaseUri, user));
        await client.StartAsync();
        var kept = new List<WebSocketPoolClientMessage>();

        // Act
        await client.SendTextAsync("first");
        await client.SendAsync(new byte[] { 1, 2, 3 }, System.Net.WebSockets.WebSocketMessageType.Binary);
        await client.SendTextAsync("third");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await foreach (var message in client.ReadAllAsync(timeout.Token))
        {
            kept.Add(message);
            if (kept.Count == 3)
            {
                break;
            }
        }

        // Assert
        kept[0].GetText().Should().Be("first", "a kept message is not overwritten by the ones after it");
        kept[1].IsText.Should().BeFalse();
        kept[1].Payload.ToArray().Should().Equal(1, 2, 3);
        kept[2].GetText().Should().Be("third");
    }

    private static async Task<int> ReadToEndAsync(WebSocketPoolClient client)
    {
        var count = 0;
        await foreach (var _ in client.ReadAllAsync())
        {
            count++;
        }

        return count;
    }
}

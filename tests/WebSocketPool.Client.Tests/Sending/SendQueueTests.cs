// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using Microsoft.Extensions.Time.Testing;

namespace WebSocketPool.Client.Tests.Sending;

/// <summary>
/// Sends never wait for the network: while the client cannot connect they are queued, up to a bound in messages and in
/// bytes, refused beyond it with a clear exception, and written in order once a server is there.
/// </summary>
public sealed class SendQueueTests
{
    [Fact]
    public async Task SendAsync_WhileNoServer_QueuesUpToTheCountBoundThenRefusesAndDeliversInOrderLater()
    {
        // Arrange
        var port = FreePort.Next();
        var user = ClientTestServer.NewUser("queued");
        var time = new FakeTimeProvider();
        var options = ClientTestServer.Options(FreePort.BaseUri(port), user, o => o.SendQueueCapacity = 3);
        await using var client = new WebSocketPoolClient(options, timeProvider: time, random: new FixedRandom(0.5));
        var events = new ClientEvents(client);
        var start = client.StartAsync();
        var reconnecting = await events.WaitForAsync<WebSocketPoolReconnectingEventArgs>();

        // Act
        await client.SendTextAsync("one");
        await client.SendTextAsync("two");
        await client.SendTextAsync("three");
        var fourth = async () => await client.SendTextAsync("four");
        var refusal = await fourth.Should().ThrowAsync<WebSocketPoolSendQueueFullException>();
        var queued = client.QueuedSendCount;
        await using var server = await ClientTestServer.StartAsync(port: port);
        time.Advance(reconnecting.Delay);
        await start.WaitAsync(TimeSpan.FromSeconds(20));
        await PoolTestServer.WaitUntilAsync(() => server.Received().Of(user).Count == 3, TimeSpan.FromSeconds(20), "the queued messages arrived");

        // Assert
        reconnecting.CloseClass.Should().Be(WebSocketPoolCloseClass.Backoff, "a refused TCP connection is retried with backoff");
        refusal.WithMessage("*3 messages*SendQueueCapacity*");
        queued.Should().Be(3);
        server.Received().Of(user).Should().Equal("one", "two", "three");
        client.QueuedSendCount.Should().Be(0);
    }

    [Fact]
    public async Task SendAsync_OverTheByteBound_RefusesThatMessageButTakesASmallerOne()
    {
        // Arrange
        var port = FreePort.Next();
        var options = ClientTestServer.Options(FreePort.BaseUri(port), "bytes", o =>
        {
            o.SendQueueCapacity = 100;
            o.SendQueueMaxBytes = 100;
        });
        await using var client = new WebSocketPoolClient(options, timeProvider: new FakeTimeProvider(), random: new FixedRandom(0.5));
        var events = new ClientEvents(client);
        _ = client.StartAsync();
        await events.WaitForAsync<WebSocketPoolReconnectingEventArgs>();

        // Act
        await client.SendAsync(new byte[40], WebSocketMessageType.Binary);
        await client.SendAsync(new byte[40], WebSocketMessageType.Binary);
        var third = async () => await client.SendAsync(new byte[40], WebSocketMessageType.Binary);
        var refusal = await third.Should().ThrowAsync<WebSocketPoolSendQueueFullException>();
        var small = async () => await client.SendAsync(new byte[20], WebSocketMessageType.Binary);

        // Assert
        refusal.WithMessage("*80 bytes*40*SendQueueMaxBytes*");
        await small.Should().NotThrowAsync("20 more bytes fit the bound exactly");
        client.QueuedSendCount.Should().Be(3);
    }

    [Fact]
    public async Task Stop_WithMessagesQueuedAndNoServer_DropsThemAndRefusesMore()
    {
        // Arrange
        var options = ClientTestServer.Options(FreePort.BaseUri(FreePort.Next()), "dropped");
        await using var client = new WebSocketPoolClient(options, timeProvider: new FakeTimeProvider(), random: new FixedRandom(0.5));
        var events = new ClientEvents(client);
        var start = client.StartAsync();
        await events.WaitForAsync<WebSocketPoolReconnectingEventArgs>();
        await client.SendTextAsync("never sent");

        // Act
        await client.StopAsync();
        var send = async () => await client.SendTextAsync("after stop");

        // Assert
        client.QueuedSendCount.Should().Be(0);
        await send.Should().ThrowAsync<InvalidOperationException>();
        await start.Invoking(s => s).Should().ThrowAsync<InvalidOperationException>();
        events.Closed.Should().ContainSingle().Which.ByApplication.Should().BeTrue();
    }
}

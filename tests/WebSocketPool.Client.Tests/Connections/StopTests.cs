// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Time.Testing;

namespace WebSocketPool.Client.Tests.Connections;

/// <summary>The application's own stop: what is queued is written, the close is 1000, and nothing can hold the stop up.</summary>
public sealed class StopTests(CommandServerFixture fixture) : IClassFixture<CommandServerFixture>
{
    [Fact]
    public async Task StopAsync_WritesWhatIsQueuedThenClosesWith1000()
    {
        // Arrange
        var user = ClientTestServer.NewUser("stop");
        await using var client = new WebSocketPoolClient(ClientTestServer.Options(fixture.Server.BaseUri, user));
        var events = new ClientEvents(client);
        await client.StartAsync();
        var texts = Enumerable.Range(0, 50).Select(i => "message " + i).ToList();

        // Act
        foreach (var text in texts)
        {
            await client.SendTextAsync(text);
        }

        await client.StopAsync();
        await PoolTestServer.WaitUntilAsync(() => fixture.Server.Factory.GetConnectionCount(user) == 0, TimeSpan.FromSeconds(20), "the server saw the close");

        // Assert
        fixture.Server.Received().Of(user).Should().Equal(texts);
        var closed = events.Closed.Should().ContainSingle().Subject;
        closed.ByApplication.Should().BeTrue();
        closed.CloseStatus.Should().Be(1000);
        closed.CloseClass.Should().Be(WebSocketPoolCloseClass.Terminal);
        client.State.Should().Be(WebSocketPoolClientState.Closed);
    }

    [Fact]
    public async Task StopAsync_WithUnreadMessagesBeyondTheReceiveQueue_StillCloses()
    {
        // Arrange: a clock that never moves, so no close timeout can rescue a stop that waits on the reader
        var user = ClientTestServer.NewUser("unread");
        var options = ClientTestServer.Options(fixture.Server.BaseUri, user, o => o.ReceiveQueueCapacity = 1);
        var client = new WebSocketPoolClient(options, timeProvider: new FakeTimeProvider());
        try
        {
            var events = new ClientEvents(client);
            await client.StartAsync();
            for (var i = 0; i < 5; i++)
            {
                await client.SendTextAsync("unread " + i);
            }

            await PoolTestServer.WaitUntilAsync(() => client.ReceivedWaitingCount == 1, TimeSpan.FromSeconds(20), "the receive queue is full");

            // Act
            await client.StopAsync().WaitAsync(TimeSpan.FromSeconds(20));
            await PoolTestServer.WaitUntilAsync(() => fixture.Server.Factory.GetConnectionCount(user) == 0, TimeSpan.FromSeconds(20), "the server saw the close");

            // Assert
            events.Closed.Should().ContainSingle().Which.ByApplication.Should().BeTrue();
            client.State.Should().Be(WebSocketPoolClientState.Closed);
        }
        finally
        {
            // Not awaited: a stop that hangs must fail this test, not hang the run.
            _ = client.DisposeAsync().AsTask();
        }
    }
}

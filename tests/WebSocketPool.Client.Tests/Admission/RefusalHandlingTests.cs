// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Time.Testing;

namespace WebSocketPool.Client.Tests.Admission;

/// <summary>
/// Refusals before the upgrade from the real pool: a user at their limit gets 429 with <c>Retry-After</c> (5 s), which
/// the client honours as the floor of its next delay (read from its event; the fake clock is moved on by the test), and
/// 401 ends the client at once. With the preview on, the refusal's reason and counts come through too.
/// </summary>
public sealed class RefusalHandlingTests
{
    private static readonly TimeSpan s_poolRetryAfter = TimeSpan.FromSeconds(5);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task UserAtLimit_429WithRetryAfter_WaitsAtLeastRetryAfterThenConnects(bool preview)
    {
        // Arrange
        await using var server = await ClientTestServer.StartAsync(o => o.MaxConnectionsPerUser = 1);
        var user = ClientTestServer.NewUser("limited");
        var holder = await server.ConnectAsync(user);
        var time = new FakeTimeProvider();
        var options = ClientTestServer.Options(server.BaseUri, user, o => o.Preview = preview);
        await using var client = new WebSocketPoolClient(options, timeProvider: time, random: new FixedRandom(0.5));
        var events = new ClientEvents(client);

        // Act
        var start = client.StartAsync();
        var refused = await events.WaitForAsync<WebSocketPoolRefusedEventArgs>();
        var reconnecting = await events.WaitForAsync<WebSocketPoolReconnectingEventArgs>();
        var stateWhileWaiting = client.State;
        await holder.CloseAsync(System.Net.WebSockets.WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        holder.Dispose();
        await PoolTestServer.WaitUntilAsync(() => server.Factory.GetConnectionCount(user) == 0, TimeSpan.FromSeconds(20), "the first connection was released");
        time.Advance(reconnecting.Delay - TimeSpan.FromMilliseconds(1));
        var startedEarly = start.IsCompleted;
        time.Advance(TimeSpan.FromMilliseconds(1));
        await start.WaitAsync(TimeSpan.FromSeconds(20));

        // Assert
        refused.StatusCode.Should().Be(429);
        refused.RetryAfter.Should().Be(s_poolRetryAfter);
        refused.CloseClass.Should().Be(WebSocketPoolCloseClass.Backoff);
        refused.FromPreview.Should().Be(preview);
        if (preview)
        {
            refused.Reason.Should().Be("user_limit");
            refused.Limit.Should().Be(1);
            refused.Current.Should().Be(1);
            refused.Detail.Should().Contain("1 of 1");
        }
        else
        {
            refused.Reason.Should().BeNull("a refused handshake has no body to read");
        }

        reconnecting.Attempt.Should().Be(1);
        reconnecting.StatusCode.Should().Be(429);
        reconnecting.CloseClass.Should().Be(WebSocketPoolCloseClass.Backoff);
        reconnecting.Delay.Should().Be(s_poolRetryAfter, "the draw (0.5 × 2 s) is shorter than Retry-After, which is the floor");
        stateWhileWaiting.Should().Be(WebSocketPoolClientState.Connecting, "the client has not connected yet");
        startedEarly.Should().BeFalse("the client waits the whole delay");
        client.State.Should().Be(WebSocketPoolClientState.Connected);
        await client.EchoAsync("admitted");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task NoUser_401_ClosesForGoodAndStartThrows(bool preview)
    {
        // Arrange
        await using var server = await ClientTestServer.StartAsync();
        var options = ClientTestServer.Options(server.BaseUri, "ignored", o =>
        {
            o.Uri = new UriBuilder(server.BaseUri) { Scheme = "ws", Path = "/ws" }.Uri;
            o.Preview = preview;
        });
        await using var client = new WebSocketPoolClient(options, timeProvider: new FakeTimeProvider(), random: new FixedRandom(0));
        var events = new ClientEvents(client);

        // Act
        var start = () => client.StartAsync();

        // Assert
        (await start.Should().ThrowAsync<InvalidOperationException>()).WithMessage("*401*");
        var closed = events.Closed.Should().ContainSingle().Subject;
        closed.StatusCode.Should().Be(401);
        closed.CloseClass.Should().Be(WebSocketPoolCloseClass.Terminal);
        events.Refused.Should().ContainSingle().Which.Reason.Should().Be(preview ? "unauthenticated" : null);
        events.Reconnecting.Should().BeEmpty();
        client.State.Should().Be(WebSocketPoolClientState.Closed);
    }

    [Fact]
    public async Task EvictedByANewerConnection_4001_ClosesForGoodWithoutReconnecting()
    {
        // Arrange
        await using var server = await ClientTestServer.StartAsync(o =>
        {
            o.MaxConnectionsPerUser = 1;
            o.OverflowPolicy = OverflowPolicy.EvictOldest;
        });
        var user = ClientTestServer.NewUser("evicted");
        await using var client = new WebSocketPoolClient(ClientTestServer.Options(server.BaseUri, user), timeProvider: new FakeTimeProvider(), random: new FixedRandom(0));
        var events = new ClientEvents(client);
        await client.StartAsync();

        // Act
        using var newer = await server.ConnectAsync(user);
        var closed = await events.WaitForAsync<WebSocketPoolClosedEventArgs>();

        // Assert
        closed.CloseStatus.Should().Be(4001);
        closed.CloseClass.Should().Be(WebSocketPoolCloseClass.Terminal);
        events.Reconnecting.Should().BeEmpty();
        client.State.Should().Be(WebSocketPoolClientState.Closed);
        await PoolTestServer.WaitUntilAsync(() => server.Factory.ActiveConnections == 1, TimeSpan.FromSeconds(20), "only the newer connection is left");
        server.Factory.GetConnectionCount(user).Should().Be(1, "the evicted client did not come back to evict the newer one in turn");
    }

    [Fact]
    public async Task MaxReconnectAttempts_UsedUp_ClosesWithTheLastFailure()
    {
        // Arrange
        await using var server = await ClientTestServer.StartAsync(o => o.MaxConnectionsPerUser = 1);
        var user = ClientTestServer.NewUser("gives-up");
        using var holder = await server.ConnectAsync(user);
        var time = new FakeTimeProvider();
        await using var client = new WebSocketPoolClient(ClientTestServer.Options(server.BaseUri, user, o => o.MaxReconnectAttempts = 2),
            timeProvider: time, random: new FixedRandom(0.5));
        var events = new ClientEvents(client);

        // Act
        var start = client.StartAsync();
        for (var attempt = 1; attempt <= 2; attempt++)
        {
            var reconnecting = await events.WaitForAsync<WebSocketPoolReconnectingEventArgs>(attempt);
            time.Advance(reconnecting.Delay);
        }

        var closed = await events.WaitForAsync<WebSocketPoolClosedEventArgs>();

        // Assert
        await start.Invoking(s => s).Should().ThrowAsync<InvalidOperationException>();
        events.Refused.Should().HaveCount(3);
        events.Reconnecting.Select(r => r.Attempt).Should().Equal(1, 2);
        closed.CloseClass.Should().Be(WebSocketPoolCloseClass.Backoff);
        closed.StatusCode.Should().Be(429);
        closed.Description.Should().Contain("MaxReconnectAttempts");
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Client.Tests.Reliability;

/// <summary>
/// A server that shuts down (closing every socket with 1001) and comes back on the same address: the client reconnects
/// promptly, keeps trying with backoff while nothing listens, and carries on with the new server. Real clock, short
/// delays, attempts bounded.
/// </summary>
public sealed class ServerRestartTests
{
    [Fact]
    public async Task ServerRestartsOnTheSamePort_ClientReconnectsAndCarriesOn()
    {
        // Arrange
        var user = ClientTestServer.NewUser("restart");
        var first = await ClientTestServer.StartAsync();
        var port = first.BaseUri.Port;
        var options = ClientTestServer.Options(first.BaseUri, user, o =>
        {
            o.ReconnectBaseDelay = TimeSpan.FromMilliseconds(20);
            o.ReconnectMaxDelay = TimeSpan.FromMilliseconds(200);
            o.PromptReconnectMaxDelay = TimeSpan.FromMilliseconds(20);
            o.MaxReconnectAttempts = 500;
        });
        await using var client = new WebSocketPoolClient(options);
        var events = new ClientEvents(client);
        await client.StartAsync();
        await client.EchoAsync("before");

        // Act
        await first.DisposeAsync();
        var reconnecting = await events.WaitForAsync<WebSocketPoolReconnectingEventArgs>();
        await using var second = await ClientTestServer.StartAsync(port: port);
        await events.WaitForAsync<WebSocketPoolReconnectedEventArgs>();
        await client.EchoAsync("after");

        // Assert
        reconnecting.CloseStatus.Should().Be(1001, "the server drains its sockets on shutdown");
        reconnecting.CloseClass.Should().Be(WebSocketPoolCloseClass.Prompt);
        events.Closed.Should().BeEmpty();
        client.State.Should().Be(WebSocketPoolClientState.Connected);
        second.Received().Of(user).Should().Equal("after");
        second.Factory.GetConnectionCount(user).Should().Be(1);
    }

    [Fact]
    public async Task TwoHundredClients_ServerRestarts_EveryOneReconnectsToTheNewServer()
    {
        // Arrange
        const int Count = 200;
        var first = await ClientTestServer.StartAsync();
        var port = first.BaseUri.Port;
        var clients = new List<(WebSocketPoolClient Client, ClientEvents Events)>();
        try
        {
            for (var i = 0; i < Count; i++)
            {
                var client = new WebSocketPoolClient(ClientTestServer.Options(first.BaseUri, $"many-{i}", o =>
                {
                    o.ReconnectBaseDelay = TimeSpan.FromMilliseconds(20);
                    o.ReconnectMaxDelay = TimeSpan.FromMilliseconds(500);
                    o.PromptReconnectMaxDelay = TimeSpan.FromMilliseconds(200);
                    o.MaxReconnectAttempts = 200;
                }));
                clients.Add((client, new ClientEvents(client)));
            }

            await Task.WhenAll(clients.Select(c => c.Client.StartAsync()));
            await PoolTestServer.WaitUntilAsync(() => first.Factory.ActiveConnections == Count, TimeSpan.FromSeconds(30), "every client is connected");

            // Act
            await first.DisposeAsync();
            await using var second = await ClientTestServer.StartAsync(port: port);
            await PoolTestServer.WaitUntilAsync(() => clients.All(c => c.Events.Reconnected.Count == 1), TimeSpan.FromSeconds(60),
                "every client reconnected");
            await PoolTestServer.WaitUntilAsync(() => second.Factory.ActiveConnections == Count, TimeSpan.FromSeconds(30), "the new server holds them all");

            // Assert
            clients.Should().OnlyContain(c => c.Events.Reconnecting[0].CloseStatus == 1001 && c.Events.Reconnecting[0].CloseClass == WebSocketPoolCloseClass.Prompt);
            clients.Should().OnlyContain(c => c.Events.Closed.Count == 0 && c.Client.State == WebSocketPoolClientState.Connected);
            clients.Select(c => c.Events.Reconnecting[0].Delay).Distinct().Should().HaveCountGreaterThan(Count / 2, "the prompt delays are spread, not one instant");
        }
        finally
        {
            await Task.WhenAll(clients.Select(c => c.Client.DisposeAsync().AsTask()));
        }
    }
}

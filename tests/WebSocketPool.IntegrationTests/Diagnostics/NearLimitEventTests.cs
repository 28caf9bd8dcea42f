// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;
using System.Net.WebSockets;

namespace WebSocketPool.IntegrationTests.Diagnostics;

public sealed class NearLimitEventTests
{
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task UserNearLimit_CrossedUpDownAndUpAgain_RaisedOncePerCrossing()
    {
        // Arrange: 4 per user, alert at 2.
        await using var server = await PoolTestServer.StartAsync(o => o.MaxConnectionsPerUser = 4);
        var raised = new ConcurrentQueue<UserNearLimitEventArgs>();
        server.Factory.UserNearLimit += (_, e) => raised.Enqueue(e);
        var clients = new List<ClientWebSocket>();

        // Act: up to the limit, one at a time: only reaching 2 raises.
        for (var i = 0; i < 4; i++)
        {
            clients.Add(await server.ConnectAsync("alice"));
        }

        var afterFirstCrossing = raised.Count;

        // Down below the threshold, then up again: a second crossing.
        for (var i = 0; i < 3; i++)
        {
            await clients[i].CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        }

        await PoolTestServer.WaitUntilAsync(() => server.Factory.GetConnectionCount("alice") == 1, s_deadline, "three connections are released");
        clients.Add(await server.ConnectAsync("alice"));

        // Assert
        afterFirstCrossing.Should().Be(1, "the event is raised per crossing, not per connection");
        raised.Should().HaveCount(2);
        raised.Should().AllSatisfy(e =>
        {
            e.UserKey.Should().Be("alice");
            e.Connections.Should().Be(2);
            e.Limit.Should().Be(4);
        });
        foreach (var client in clients)
        {
            client.Dispose();
        }
    }

    [Fact]
    public async Task UserNearLimit_ConcurrentConnects_RaisedOnce()
    {
        await using var server = await PoolTestServer.StartAsync(o => o.MaxConnectionsPerUser = 8);
        var raised = new ConcurrentQueue<UserNearLimitEventArgs>();
        server.Factory.UserNearLimit += (_, e) => raised.Enqueue(e);

        var clients = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => server.ConnectAsync("bob")));

        server.Factory.GetConnectionCount("bob").Should().Be(8);
        raised.Should().ContainSingle().Which.Connections.Should().Be(4);
        foreach (var client in clients)
        {
            client.Dispose();
        }
    }

    [Fact]
    public async Task UserNearLimit_SubscriberThrows_AdmissionStillSucceeds()
    {
        await using var server = await PoolTestServer.StartAsync(o => o.MaxConnectionsPerUser = 2);
        server.Factory.UserNearLimit += (_, _) => throw new InvalidOperationException("subscriber failure");

        using var client = await server.ConnectAsync("carol");

        client.State.Should().Be(WebSocketState.Open);
        server.Factory.GetConnectionCount("carol").Should().Be(1);
    }
}

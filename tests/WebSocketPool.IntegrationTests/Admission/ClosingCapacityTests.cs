// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using System.Net.WebSockets;
using Microsoft.Extensions.DependencyInjection;
using WebSocketPool.IntegrationTests.Connections;
using WebSocketPool.IntegrationTests.Infrastructure;

namespace WebSocketPool.IntegrationTests.Admission;

/// <summary>
/// <see cref="WebSocketPoolOptions.MaxConnections"/> bounds the sockets the node holds: handshakes in progress, open
/// sockets and sockets still closing all count. An evicted socket whose peer never answers the close frame still holds
/// a socket until it ends, so it keeps its place under the global cap even though its user's slot went to the newcomer.
/// The clients here never read, so the server's close frames stay unanswered until a test reads them.
/// </summary>
public sealed class ClosingCapacityTests
{
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Connect_AtTheGlobalCapUnderEvictOldest_Refused503InsteadOfEvicting()
    {
        // Arrange: the user could evict, but the node is full.
        await using var server = await StartAsync(maxConnections: 5);
        var clients = await ConnectSilentAsync(server, "u", 5);
        try
        {
            var refusedBefore = server.Factory.GetSnapshot().Rejected[RejectionReasons.GlobalLimit];

            // Act
            var (sixth, status) = await CloseTestClient.TryConnectAsync(server, "u");

            // Assert
            sixth.Should().BeNull();
            status.Should().Be(503);
            var snapshot = server.Factory.GetSnapshot();
            snapshot.Rejected[RejectionReasons.GlobalLimit].Should().Be(refusedBefore + 1);
            snapshot.Evicted.Should().Be(0, "the global cap is checked before the per-user cap and its overflow policy");
            server.Factory.GetConnections("u").Should().HaveCount(5);
        }
        finally
        {
            DisposeAll(clients);
        }
    }

    [Fact]
    public async Task Connect_WhileAnEvictedSocketIsStillClosing_Refused503GlobalLimitUntilItEnds()
    {
        // Arrange: five silent connections of u on a node of six; all but the first have sent a message, so the first is
        // the one silent longest and is the one evicted.
        await using var server = await StartAsync(maxConnections: 6);
        var clients = await ConnectSilentAsync(server, "u", 5);
        try
        {
            foreach (var client in clients.Skip(1))
            {
                await client.SendTextAsync("not silent");
            }

            await PoolTestServer.WaitUntilAsync(
                () => server.Factory.GetConnections("u").Count(c => c.LastReceivedAt is not null) == 4, s_deadline, "four connections have been heard from");
            using var sixth = await server.ConnectAsync("u");
            await PoolTestServer.WaitUntilAsync(() => server.Factory.GetSnapshot().Evicted == 1, s_deadline, "the sixth connection evicted one of the five");
            var refusedBefore = server.Factory.GetSnapshot().Rejected[RejectionReasons.GlobalLimit];

            // Act: five open and one closing (its peer has not answered) fill the node of six.
            var (seventh, status) = await CloseTestClient.TryConnectAsync(server, "v");

            // Assert
            using (seventh)
            {
                status.Should().Be(503, "five open sockets and one evicted socket still closing hold six sockets");
            }

            server.Factory.GetSnapshot().Rejected[RejectionReasons.GlobalLimit].Should().Be(refusedBefore + 1);

            // Once the evicted socket has ended (its peer finally answers the close), the node admits again.
            (await clients[0].ReceiveCloseStatusAsync(s_deadline)).Should().Be(WebSocketCloseCodes.Evicted, "the silent-longest connection was evicted");
            using var eighth = await ConnectEventuallyAsync(server, "v");
            eighth.State.Should().Be(WebSocketState.Open);
        }
        finally
        {
            DisposeAll(clients);
        }
    }

    private static Task<PoolTestServer> StartAsync(int maxConnections) =>
        PoolTestServer.StartAsync(
            o =>
            {
                o.MaxConnections = maxConnections;
                o.MaxConnectionsPerUser = 5;
                o.OverflowPolicy = OverflowPolicy.EvictOldest;
                o.SendTimeout = TimeSpan.FromSeconds(30);
            },
            pool: p => p.AddHandler<CoreTestHandler>());

    /// <summary>Opens <paramref name="count"/> clients of <paramref name="user"/> that never read unless a test makes them.</summary>
    private static async Task<List<ClientWebSocket>> ConnectSilentAsync(PoolTestServer server, string user, int count)
    {
        var clients = new List<ClientWebSocket>();
        for (var i = 0; i < count; i++)
        {
            clients.Add(await server.ConnectAsync(user));
            var opened = i + 1;
            await PoolTestServer.WaitUntilAsync(() => server.Factory.GetConnections(user).Count == opened, s_deadline, $"connection {opened} is open");
        }

        return clients;
    }

    /// <summary>Retries the upgrade until it is admitted; only the global cap may refuse meanwhile.</summary>
    private static async Task<ClientWebSocket> ConnectEventuallyAsync(PoolTestServer server, string user)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var (client, status) = await CloseTestClient.TryConnectAsync(server, user);
            if (client is not null)
            {
                return client;
            }

            status.Should().Be(503, "only the global cap refuses while the evicted socket finishes closing");
            if (watch.Elapsed > s_deadline)
            {
                throw new TimeoutException($"Not admitted within {s_deadline.TotalSeconds:F0} s after the evicted socket ended.");
            }

            await Task.Delay(20);
        }
    }

    private static void DisposeAll(IEnumerable<ClientWebSocket> clients)
    {
        foreach (var client in clients)
        {
            client.Dispose();
        }
    }
}

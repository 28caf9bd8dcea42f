// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using System.Text;
using Microsoft.Extensions.DependencyInjection;

namespace WebSocketPool.IntegrationTests.Messaging;

/// <summary>
/// Fan-out at the sizes real apps have: a room of a thousand, a user with hundreds of tabs, a chat room of 17, 20 or 31.
/// The sizes are deliberately not powers of two, which is where a recipient buffer grown outside
/// <see cref="System.Buffers.ArrayPool{T}"/> cannot be given back to it. Every client reads in its own loop while the
/// server sends, and each test sends fewer messages than <see cref="WebSocketPoolOptions.SendQueueCapacity"/>, so no
/// queue can overflow.
/// </summary>
public sealed class RealSizeFanOutTests
{
    private const string Room = "room";
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task SendToGroupAndAll_ThousandConnectionsOfHundredUsers_EachGetsEveryMessageOnceInOrder()
    {
        // Arrange: 100 users with 10 connections each, all in one group.
        const int Users = 100;
        const int PerUser = 10;
        const int Connections = Users * PerUser;
        const int Messages = 20;
        await using var server = await PoolTestServer.StartAsync(
            o =>
            {
                o.MaxConnectionsPerUser = PerUser;
                o.MaxConnections = 2 * Connections;
            },
            pool: p => p.AddHandler<RecordingHandler>());
        var users = Enumerable.Range(0, Users).Select(u => "user-" + u).ToList();
        var clients = await ConnectAsync(server, users.SelectMany(u => Enumerable.Repeat(u, PerUser)));
        try
        {
            await PoolTestServer.WaitUntilAsync(() => users.All(u => server.Factory.GetConnections(u).Count == PerUser), s_deadline, "every connection is open");
            foreach (var id in users.SelectMany(u => server.Factory.GetConnections(u)).Select(c => c.ConnectionId))
            {
                (await server.Sender.AddToGroupAsync(id, Room)).Should().BeTrue();
            }

            var expected = Enumerable.Range(0, Messages).Select(i => "group-" + i).Concat(Enumerable.Range(0, Messages).Select(i => "all-" + i)).ToList();
            using var cts = new CancellationTokenSource(s_deadline);
            var readers = clients.Select(c => ReadTextsAsync(c, expected.Count, cts.Token)).ToList();

            // Act
            var groupCounts = new List<int>();
            for (var i = 0; i < Messages; i++)
            {
                groupCounts.Add(await server.Sender.SendTextToGroupAsync(Room, "group-" + i));
            }

            var allCounts = new List<int>();
            for (var i = 0; i < Messages; i++)
            {
                allCounts.Add(await server.Sender.SendTextToAllAsync("all-" + i));
            }

            // Assert: every send reached all 1,000 connections, and each connection got every message once, in order.
            groupCounts.Should().Equal(Enumerable.Repeat(Connections, Messages));
            allCounts.Should().Equal(Enumerable.Repeat(Connections, Messages));
            foreach (var received in await Task.WhenAll(readers))
            {
                received.Should().Equal(expected);
            }
        }
        finally
        {
            DisposeAll(clients);
        }
    }

    [Fact]
    public async Task SendToUser_FiveHundredConnectionsOfOneUser_ReturnsFiveHundredAndEachGetsEveryMessageOnceInOrder()
    {
        // Arrange
        const int Connections = 500;
        const int Messages = 30;
        await using var server = await PoolTestServer.StartAsync(o => o.MaxConnectionsPerUser = Connections, pool: p => p.AddHandler<RecordingHandler>());
        var clients = await ConnectAsync(server, Enumerable.Repeat("many-tabs", Connections));
        try
        {
            using var bystander = await server.ConnectAsync("bystander");
            await PoolTestServer.WaitUntilAsync(() => server.Factory.GetConnections("many-tabs").Count == Connections, s_deadline, "every connection is open");
            var expected = Enumerable.Range(0, Messages).Select(i => "m-" + i).ToList();
            using var cts = new CancellationTokenSource(s_deadline);
            var readers = clients.Select(c => ReadTextsAsync(c, expected.Count, cts.Token)).ToList();

            // Act
            var counts = new List<int>();
            foreach (var message in expected)
            {
                counts.Add(await server.Sender.SendTextToUserAsync("many-tabs", message));
            }

            (await server.Sender.SendTextToUserAsync("bystander", "only-you")).Should().Be(1);

            // Assert
            counts.Should().Equal(Enumerable.Repeat(Connections, Messages));
            foreach (var received in await Task.WhenAll(readers))
            {
                received.Should().Equal(expected);
            }

            (await bystander.ReceiveTextAsync()).Should().Be("only-you", "another user's messages never reach the bystander");
        }
        finally
        {
            DisposeAll(clients);
        }
    }

    [Theory]
    [InlineData(17)]
    [InlineData(20)]
    [InlineData(31)]
    public async Task SendToGroup_ChatRoomOfDistinctUsers_ReturnsMemberCountAndEachGetsEveryMessageOnceInOrder(int members)
    {
        // Arrange: one connection per user, every one of them in the room.
        const int Messages = 40;
        await using var server = await PoolTestServer.StartAsync(pool: p => p.AddHandler<RecordingHandler>());
        var users = Enumerable.Range(0, members).Select(i => "chatter-" + i).ToList();
        var clients = await ConnectAsync(server, users);
        try
        {
            await PoolTestServer.WaitUntilAsync(() => users.All(u => server.Factory.GetConnections(u).Count == 1), s_deadline, "every connection is open");
            foreach (var user in users)
            {
                (await server.Sender.AddToGroupAsync(server.Factory.GetConnections(user).Single().ConnectionId, Room)).Should().BeTrue();
            }

            // Act / Assert
            await SendEachAndAssertAllReceivedAsync(clients, "chat-", Messages, members, m => server.Sender.SendTextToGroupAsync(Room, m));
        }
        finally
        {
            DisposeAll(clients);
        }
    }

    [Theory]
    [InlineData(17)]
    [InlineData(20)]
    [InlineData(31)]
    public async Task SendToUser_UserWithSeveralTabs_ReturnsConnectionCountAndEachGetsEveryMessageOnceInOrder(int connections)
    {
        // Arrange
        const int Messages = 40;
        await using var server = await PoolTestServer.StartAsync(o => o.MaxConnectionsPerUser = 31, pool: p => p.AddHandler<RecordingHandler>());
        var clients = await ConnectAsync(server, Enumerable.Repeat("tabs", connections));
        try
        {
            await PoolTestServer.WaitUntilAsync(() => server.Factory.GetConnections("tabs").Count == connections, s_deadline, "every connection is open");
            // Act / Assert
            await SendEachAndAssertAllReceivedAsync(clients, "tab-", Messages, connections, m => server.Sender.SendTextToUserAsync("tabs", m));
        }
        finally
        {
            DisposeAll(clients);
        }
    }

    /// <summary>
    /// Sends <paramref name="messages"/> numbered texts one by one while every client reads; asserts each send reached
    /// <paramref name="recipients"/> connections and every client got every text once, in order.
    /// </summary>
    private static async Task SendEachAndAssertAllReceivedAsync(
        IReadOnlyList<ClientWebSocket> clients, string prefix, int messages, int recipients, Func<string, ValueTask<int>> send)
    {
        var expected = Enumerable.Range(0, messages).Select(i => prefix + i).ToList();
        using var cts = new CancellationTokenSource(s_deadline);
        var readers = clients.Select(c => ReadTextsAsync(c, expected.Count, cts.Token)).ToList();
        var counts = new List<int>();
        foreach (var message in expected)
        {
            counts.Add(await send(message));
        }

        counts.Should().Equal(Enumerable.Repeat(recipients, messages));
        foreach (var received in await Task.WhenAll(readers))
        {
            received.Should().Equal(expected);
        }
    }

    /// <summary>Opens one client per entry of <paramref name="users"/>, a few handshakes at a time, in the order given.</summary>
    private static async Task<List<ClientWebSocket>> ConnectAsync(PoolTestServer server, IEnumerable<string> users)
    {
        const int Parallel = 16;
        var pending = users.ToList();
        var clients = new ClientWebSocket[pending.Count];
        using var cts = new CancellationTokenSource(s_deadline);
        try
        {
            for (var start = 0; start < pending.Count; start += Parallel)
            {
                var batch = Enumerable.Range(start, Math.Min(Parallel, pending.Count - start))
                    .Select(async i => clients[i] = await server.ConnectAsync(pending[i], cts.Token));
                await Task.WhenAll(batch);
            }
        }
        catch
        {
            DisposeAll(clients.Where(c => c is not null));
            throw;
        }

        return [.. clients];
    }

    /// <summary>One client's read loop: the next <paramref name="count"/> text messages, with one small reused buffer.</summary>
    private static async Task<List<string>> ReadTextsAsync(WebSocket socket, int count, CancellationToken cancellationToken)
    {
        await Task.Yield();
        var texts = new List<string>(count);
        var buffer = new byte[256];
        using var message = new MemoryStream();
        while (texts.Count < count)
        {
            var result = await socket.ReceiveAsync(buffer.AsMemory(), cancellationToken);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                throw new InvalidOperationException($"Closed with {(int?)socket.CloseStatus} after {texts.Count} of {count} messages.");
            }

            message.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                texts.Add(Encoding.UTF8.GetString(message.GetBuffer(), 0, (int)message.Length));
                message.SetLength(0);
            }
        }

        return texts;
    }

    private static void DisposeAll(IEnumerable<ClientWebSocket> clients)
    {
        foreach (var client in clients)
        {
            client.Dispose();
        }
    }
}

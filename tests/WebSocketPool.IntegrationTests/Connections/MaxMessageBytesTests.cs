// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using Microsoft.Extensions.DependencyInjection;
using WebSocketPool.IntegrationTests.Infrastructure;

namespace WebSocketPool.IntegrationTests.Connections;

/// <summary>
/// <see cref="WebSocketPoolOptions.MaxMessageBytes"/> is exact: the byte that takes a message over the limit closes the
/// connection with 1009 as soon as it has arrived, without waiting for the rest of the message, while a message of
/// exactly the limit is delivered however it is fragmented.
/// </summary>
public sealed class MaxMessageBytesTests
{
    private const int Max = 4096;
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(10);

    [Theory]
    [InlineData(new[] { Max + 1 })]
    [InlineData(new[] { Max, 1 })]
    [InlineData(new[] { 1000, Max + 1 - 1000 })]
    [InlineData(new[] { 1, 1000, 2000, Max + 1 - 3001 })]
    public async Task Receive_NonFinalFragmentsOneByteOverTheLimitThenNothing_ClosesWith1009AndReleases(int[] fragments)
    {
        // Arrange
        await using var server = await StartAsync();
        using var client = await server.ConnectAsync("big");
        await PoolTestServer.WaitUntilAsync(() => server.Factory.GetConnections("big").Count == 1, s_deadline, "the connection is open");

        // Act: the message is never finished; the server has all it needs to decide.
        foreach (var fragment in fragments)
        {
            await client.SendAsync(new byte[fragment], WebSocketMessageType.Binary, endOfMessage: false, CancellationToken.None);
        }

        // Assert
        (await client.ReceiveCloseStatusAsync(s_deadline)).Should().Be(WebSocketCloseCodes.MessageTooBig);
        await PoolTestServer.WaitUntilAsync(() => server.Factory.ActiveConnections == 0 && server.Factory.GetConnectionCount("big") == 0, s_deadline, "the slot is released");
    }

    [Fact]
    public async Task Receive_SingleFinalFrameOneByteOverTheLimit_ClosesWith1009()
    {
        await using var server = await StartAsync();
        using var client = await server.ConnectAsync("big");
        await PoolTestServer.WaitUntilAsync(() => server.Factory.GetConnections("big").Count == 1, s_deadline, "the connection is open");

        await client.SendAsync(new byte[Max + 1], WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None);

        (await client.ReceiveCloseStatusAsync(s_deadline)).Should().Be(WebSocketCloseCodes.MessageTooBig);
        await PoolTestServer.WaitUntilAsync(() => server.Factory.ActiveConnections == 0, s_deadline, "the slot is released");
    }

    [Theory]
    [InlineData(new[] { Max, 0 })]
    [InlineData(new[] { 1000, Max - 1000 })]
    [InlineData(new[] { 1, Max - 1 })]
    [InlineData(new[] { Max })]
    public async Task Receive_MessageOfExactlyTheLimitInFragments_IsDelivered(int[] fragments)
    {
        // Arrange
        await using var server = await StartAsync();
        using var client = await server.ConnectAsync("exact");
        await PoolTestServer.WaitUntilAsync(() => server.Factory.GetConnections("exact").Count == 1, s_deadline, "the connection is open");
        var payload = new byte[Max];
        Random.Shared.NextBytes(payload);

        // Act: every fragment but the last is non-final.
        var offset = 0;
        for (var i = 0; i < fragments.Length; i++)
        {
            await client.SendAsync(payload.AsMemory(offset, fragments[i]), WebSocketMessageType.Binary, endOfMessage: i == fragments.Length - 1, CancellationToken.None);
            offset += fragments[i];
        }

        // Assert: the echo handler sends the whole message back.
        using var cts = new CancellationTokenSource(s_deadline);
        var buffer = new byte[2 * Max];
        var length = 0;
        ValueWebSocketReceiveResult result;
        do
        {
            result = await client.ReceiveAsync(buffer.AsMemory(length), cts.Token);
            result.MessageType.Should().Be(WebSocketMessageType.Binary, $"the message is delivered, not closed ({(int?)client.CloseStatus})");
            length += result.Count;
        }
        while (!result.EndOfMessage);

        buffer.AsSpan(0, length).SequenceEqual(payload).Should().BeTrue("the echoed message is the one sent");
        server.Factory.GetConnectionCount("exact").Should().Be(1);
    }

    private static Task<PoolTestServer> StartAsync() =>
        PoolTestServer.StartAsync(o => o.MaxMessageBytes = Max, pool: p => p.AddHandler<CoreTestHandler>());
}

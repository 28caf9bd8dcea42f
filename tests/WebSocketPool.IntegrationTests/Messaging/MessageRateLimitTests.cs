// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using Microsoft.Extensions.DependencyInjection;

namespace WebSocketPool.IntegrationTests.Messaging;

public sealed class MessageRateLimitTests
{
    private const int Burst = 3;
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(10);

    // Refills one token every 100 s: nothing refills while a test runs, whatever the machine's speed.
    private static void Limit(WebSocketPoolOptions o)
    {
        o.MessageRateLimit = 0.01;
        o.MessageRateBurst = Burst;
    }

    [Fact]
    public async Task OnRateLimited_Default_ClosesWith1008AfterTheBurst()
    {
        await using var server = await PoolTestServer.StartAsync(Limit, pool: p => p.AddHandler<RecordingHandler>());
        var handler = server.App.Services.GetRequiredService<RecordingHandler>();
        using var client = await server.ConnectAsync("chatty");
        await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == 1, s_deadline, "the connection is open");
        var id = server.Factory.GetConnections("chatty").Single().ConnectionId;

        for (var i = 0; i < Burst + 2; i++)
        {
            await client.SendTextAsync("m" + i);
        }

        for (var i = 0; i < Burst; i++)
        {
            (await client.ReceiveTextAsync()).Should().Be("m" + i);
        }

        var close = await client.ReceiveMessageAsync();
        close.IsClose.Should().BeTrue("messages over the limit are not delivered; the default closes the connection");
        close.CloseStatus.Should().Be(WebSocketCloseCodes.PolicyViolation);
        await client.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await PoolTestServer.WaitUntilAsync(() => handler.Disconnects.ContainsKey(id), s_deadline, "the connection ended");
        handler.Disconnects[id].Reason.Should().Be(DisconnectReason.PolicyViolation);
        handler.Disconnects[id].CloseCode.Should().Be(WebSocketCloseCodes.PolicyViolation);
        server.Factory.GetConnectionCount("chatty").Should().Be(0);
    }

    [Fact]
    public async Task OnRateLimited_OverrideSendsError_KeepsTheConnectionAndSharesTheBudgetAcrossConnections()
    {
        await using var server = await PoolTestServer.StartAsync(Limit, pool: p => p.AddHandler<ErrorReplyHandler>());
        using var first = await server.ConnectAsync("chatty");
        using var second = await server.ConnectAsync("chatty");
        await PoolTestServer.WaitUntilAsync(() => server.Factory.OpenConnectionCount == 2, s_deadline, "both connections are open");

        // The first connection spends the user's whole burst.
        for (var i = 0; i < Burst; i++)
        {
            await first.SendTextAsync("m" + i);
            (await first.ReceiveTextAsync()).Should().Be("m" + i);
        }

        // The user's other connection has nothing left: the limit is per user, not per connection.
        await second.SendTextAsync("over");
        (await second.ReceiveTextAsync()).Should().Be("""{"type":"error","code":"rate_limited"}""");
        await first.SendTextAsync("over-again");
        (await first.ReceiveTextAsync()).Should().Be("""{"type":"error","code":"rate_limited"}""");

        first.State.Should().Be(WebSocketState.Open);
        second.State.Should().Be(WebSocketState.Open);
        server.Factory.GetConnectionCount("chatty").Should().Be(2);
        (await server.Sender.SendTextToUserAsync("chatty", "still-open")).Should().Be(2);
        (await first.ReceiveTextAsync()).Should().Be("still-open");
        (await second.ReceiveTextAsync()).Should().Be("still-open");
    }

    private sealed class ErrorReplyHandler : RecordingHandler
    {
        public override ValueTask OnRateLimitedAsync(WebSocketConnection connection, CancellationToken cancellationToken)
        {
            connection.SendText("""{"type":"error","code":"rate_limited"}""");
            return default;
        }
    }
}

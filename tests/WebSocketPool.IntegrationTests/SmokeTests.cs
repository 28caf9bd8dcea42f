// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using System.Text;
using Microsoft.Extensions.DependencyInjection;

namespace WebSocketPool.IntegrationTests;

public sealed class SmokeTests
{
    private sealed class Echo : WebSocketHandler
    {
        public override ValueTask OnMessageAsync(WebSocketConnection connection, WebSocketMessage message, CancellationToken cancellationToken)
        {
            connection.Send(message.Payload.ToArray(), message.MessageType);
            return default;
        }
    }

    [Fact]
    public async Task Echo_OnRealKestrel_RoundTripsAndReleasesOnClose()
    {
        await using var server = await PoolTestServer.StartAsync(pool: p => p.AddHandler<Echo>());
        using var client = await server.ConnectAsync("alice");
        await client.SendAsync(Encoding.UTF8.GetBytes("hello"), WebSocketMessageType.Text, true, CancellationToken.None);
        var buffer = new byte[64];
        var result = await client.ReceiveAsync(buffer, CancellationToken.None);
        Encoding.UTF8.GetString(buffer, 0, result.Count).Should().Be("hello");
        server.Factory.GetConnectionCount("alice").Should().Be(1);

        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);

        await PoolTestServer.WaitUntilAsync(() => server.Factory.ActiveConnections == 0, TimeSpan.FromSeconds(5), "the lease is released after close");
        server.Factory.GetConnectionCount("alice").Should().Be(0);
    }
}

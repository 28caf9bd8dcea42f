// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using System.Net.WebSockets;
using Microsoft.Extensions.DependencyInjection;
using WebSocketPool.IntegrationTests.Infrastructure;
using WebSocketPool.IntegrationTests.Messaging;

namespace WebSocketPool.IntegrationTests.Connections;

/// <summary>
/// Close codes and refusals as the peer sees them on the wire, for the paths no other test pins down exactly: 4002 after
/// a queue overflow, 1007 for invalid UTF-8, the send-timeout abort (no close frame at all), AllowedOrigins as a list
/// and as <c>*</c>, and 503 <c>draining</c> during a real host stop. (1009, 4001, 4003 and 1001 are asserted on the
/// wire by ReleasePathTests, KickTests and AdmissionTests.)
/// </summary>
public sealed class WireCloseCodeTests : IDisposable
{
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(30);

    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };

    public void Dispose() => _http.Dispose();

    [Fact]
    public async Task Send_QueueOverflowsWhilePeerDoesNotRead_PeerReadsAgainAndSeesClose4002()
    {
        // Arrange: a small queue and a long send timeout, so the close frame waits behind the stalled send, not an abort.
        await using var server = await StartAsync(o =>
        {
            o.SendQueueCapacity = 64;
            o.SlowConsumerPolicy = SlowConsumerPolicy.Disconnect;
            o.SendTimeout = TimeSpan.FromSeconds(60);
        });
        using var client = await RawWebSocketClient.ConnectWebSocketAsync(server.BaseUri, "slow");
        await Conditions.WaitAsync(() => server.Factory.OpenConnectionCount == 1, s_deadline, "the connection is open");
        var id = server.Factory.GetConnections("slow").Single().ConnectionId;
        var big = new byte[16 * 1024];
        var outcome = SendResult.Queued;
        var sent = 0;
        for (; sent < 10_000 && outcome == SendResult.Queued; sent++)
        {
            outcome = await server.Sender.SendToConnectionAsync(id, big, WebSocketMessageType.Binary);
        }

        outcome.Should().Be(SendResult.SlowConsumerDisconnected, "the queue of a peer that does not read overflows");

        // Act: the peer reads again, first whatever was already on its way, then the close frame.
        var received = 0;
        ReceivedMessage message;
        while (!(message = await client.WebSocket.ReceiveMessageAsync(s_deadline)).IsClose)
        {
            received++;
            received.Should().BeLessThan(sent, "the messages after the overflow are discarded, not delivered");
        }

        // Assert
        message.CloseStatus.Should().Be(WebSocketCloseCodes.SlowConsumer);
        await client.WebSocket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await AssertReleasedAsync(server, "slow");
        await Conditions.WaitAsync(() => Handler(server).DisconnectOf("slow") is not null, s_deadline, "the handler hears how it ended");
        Handler(server).DisconnectOf("slow")!.Reason.Should().Be(DisconnectReason.SlowConsumer);
    }

    [Fact]
    public async Task Receive_InvalidUtf8Text_ClientSees1007AndSlotIsReleased()
    {
        await using var server = await StartAsync();
        using var client = await server.ConnectAsync("alice");

        // 0xC3 starts a two-byte sequence; 0x28 cannot continue it. The client's WebSocket does not check what it sends.
        await client.SendAsync(new byte[] { 0xC3, 0x28 }, WebSocketMessageType.Text, true, CancellationToken.None);

        // The server fails the connection (RFC 6455 §7.1.7): its close frame, then the TCP connection ends without waiting
        // for an answer, so this client only reads.
        var close = await client.ReceiveMessageAsync(s_deadline);
        close.IsClose.Should().BeTrue();
        close.CloseStatus.Should().Be(WebSocketCloseCodes.InvalidPayload);
        await AssertReleasedAsync(server, "alice");
    }

    [Fact]
    public async Task Receive_InvalidUtf8Text_HandlerHearsProtocolError()
    {
        await using var server = await StartAsync();
        using var client = await server.ConnectAsync("alice");

        await client.SendAsync(new byte[] { 0xC3, 0x28 }, WebSocketMessageType.Text, true, CancellationToken.None);

        (await client.ReceiveMessageAsync(s_deadline)).CloseStatus.Should().Be(WebSocketCloseCodes.InvalidPayload);
        await AssertReleasedAsync(server, "alice");
        await Conditions.WaitAsync(() => Handler(server).DisconnectOf("alice") is not null, s_deadline, "the handler hears how it ended");
        Handler(server).DisconnectOf("alice")!.Reason.Should().Be(DisconnectReason.ProtocolError);
    }

    [Fact]
    public async Task Send_PeerStopsReadingPastSendTimeout_ConnectionAbortedWithoutCloseFrameAndSlotReleased()
    {
        // Arrange: a queue far larger than what is sent, so only the send timeout can end the connection.
        await using var server = await StartAsync(o =>
        {
            o.SendTimeout = TimeSpan.FromSeconds(1);
            o.SendQueueCapacity = 1024;
            o.SlowConsumerPolicy = SlowConsumerPolicy.Disconnect;
        });
        using var client = await RawWebSocketClient.ConnectWebSocketAsync(server.BaseUri, "stuck");
        await Conditions.WaitAsync(() => server.Factory.OpenConnectionCount == 1, s_deadline, "the connection is open");
        var id = server.Factory.GetConnections("stuck").Single().ConnectionId;

        // Act: more than the socket buffers hold, so one send stays stuck past the send timeout.
        var big = new byte[256 * 1024];
        var results = new List<SendResult>();
        for (var i = 0; i < 200; i++)
        {
            var result = await server.Sender.SendToConnectionAsync(id, big, WebSocketMessageType.Binary);
            results.Add(result);
            if (result != SendResult.Queued)
            {
                break;
            }
        }

        // Assert: the slot is released, and the peer sees the connection end with no close frame.
        await AssertReleasedAsync(server, "stuck");
        results.Should().NotContain(SendResult.SlowConsumerDisconnected, "the queue never filled; the send timeout ended the connection");
        await Conditions.WaitAsync(() => Handler(server).DisconnectOf("stuck") is not null, s_deadline, "the handler hears how it ended");
        Handler(server).DisconnectOf("stuck")!.Reason.Should().Be(DisconnectReason.Aborted);

        var end = await ReadUntilConnectionEndsAsync(client.WebSocket);
        end.CloseFrame.Should().BeFalse("an aborted connection gets no close frame (the peer sees 1006), but got {0}", client.WebSocket.CloseStatus);
        end.Error.Should().BeOfType<WebSocketException>();
        client.WebSocket.CloseStatus.Should().BeNull();
        client.WebSocket.State.Should().Be(WebSocketState.Aborted);
    }

    [Fact]
    public async Task Upgrade_AllowedOriginsList_ListedOriginsUpgradeOthersGet403AndNoOriginPasses()
    {
        await using var server = await StartAsync(o =>
        {
            o.AllowedOrigins.Add("https://a.example");
            o.AllowedOrigins.Add("https://b.example");
        });

        using var a = await ConnectWithOriginAsync(server, "alice", "https://a.example");
        using var b = await ConnectWithOriginAsync(server, "alice", "https://b.example");
        using var noOrigin = await server.ConnectAsync("alice");
        server.Factory.GetConnectionCount("alice").Should().Be(3);

        using var c = NewClient();
        c.Options.SetRequestHeader("Origin", "https://c.example");
        var connect = () => c.ConnectAsync(server.WebSocketUri("alice"), CancellationToken.None);
        await connect.Should().ThrowAsync<WebSocketException>();
        c.HttpStatusCode.Should().Be(HttpStatusCode.Forbidden);
        using var response = await UpgradeProbe.SendAsync(_http, UpgradeProbe.PoolUri(server.BaseUri, "alice"), ("Origin", "https://c.example"));
        await UpgradeProbe.AssertRefusedAsync(response, HttpStatusCode.Forbidden, RejectionReasons.Origin);
        server.Factory.GetConnectionCount("alice").Should().Be(3, "a refused origin reserved nothing");

        foreach (var client in new[] { a, b, noOrigin })
        {
            await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        }

        await AssertReleasedAsync(server, "alice");
    }

    [Theory]
    [InlineData("https://anything.example")]
    [InlineData("http://evil.example:8080")]
    public async Task Upgrade_AllowedOriginsStar_AnyOriginUpgrades(string origin)
    {
        await using var server = await StartAsync(o => o.AllowedOrigins.Add("*"));

        using var client = await ConnectWithOriginAsync(server, "alice", origin);

        client.HttpStatusCode.Should().Be(HttpStatusCode.SwitchingProtocols);
        await client.SendTextAsync("hi");
        (await client.ReceiveTextAsync()).Should().Be("hi");
        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await AssertReleasedAsync(server, "alice");
    }

    /// <summary>
    /// A real host stop: the web server must still be listening while the pool drains, so a newcomer gets 503
    /// <c>draining</c> rather than a refused TCP connection (the pool drains in its hosted service's StoppingAsync,
    /// before the web server's StopAsync closes the listener).
    /// </summary>
    [Fact]
    public async Task Upgrade_DuringRealHostStop_Returns503DrainingWithRetryAfterThenStopFinishes()
    {
        // Arrange: a peer that does not answer the server's close frame until told to, so the drain stays open.
        await using var server = await StartAsync(o =>
        {
            o.ShutdownTimeout = TimeSpan.FromSeconds(30);
            o.SendTimeout = TimeSpan.FromSeconds(30);
        });
        await using var peer = await RawWebSocketClient.ConnectAsync(server.BaseUri, "alice");
        await Conditions.WaitAsync(() => server.Factory.OpenConnectionCount == 1, s_deadline, "the peer's connection is open");

        // Act: the host starts stopping (not awaited), and a newcomer tries to upgrade meanwhile.
        var stopping = server.App.StopAsync();
        await Conditions.WaitAsync(() => server.Factory.IsDraining, s_deadline, "stopping the host starts the drain");
        using var response = await UpgradeProbe.SendAsync(_http, UpgradeProbe.PoolUri(server.BaseUri, "bob"));

        // Assert
        await UpgradeProbe.AssertRefusedAsync(response, HttpStatusCode.ServiceUnavailable, RejectionReasons.Draining);
        response.Headers.RetryAfter!.Delta.Should().BePositive();
        stopping.IsCompleted.Should().BeFalse("the drain still waits for the peer that has not answered 1001");
        server.Factory.GetConnectionCount("bob").Should().Be(0);

        // The peer answers the 1001 it was sent, and the stop finishes.
        var end = await peer.ReadUntilEndAsync(s_deadline);
        end.CloseCode.Should().Be(WebSocketCloseCodes.GoingAway, "the draining server sent 1001 ({0})", end);
        await stopping.WaitAsync(s_deadline);
        server.Factory.ActiveConnections.Should().Be(0);
        server.Factory.OpenConnectionCount.Should().Be(0);
    }

    private static Task<PoolTestServer> StartAsync(Action<WebSocketPoolOptions>? configure = null) =>
        PoolTestServer.StartAsync(configure, pool: p => p.AddHandler<CoreTestHandler>());

    private static CoreTestHandler Handler(PoolTestServer server) => server.App.Services.GetRequiredService<CoreTestHandler>();

    private static ClientWebSocket NewClient()
    {
        var client = new ClientWebSocket();
        client.Options.KeepAliveInterval = TimeSpan.Zero;
        client.Options.CollectHttpResponseDetails = true;
        return client;
    }

    private static async Task<ClientWebSocket> ConnectWithOriginAsync(PoolTestServer server, string user, string origin)
    {
        var client = NewClient();
        try
        {
            client.Options.SetRequestHeader("Origin", origin);
            await client.ConnectAsync(server.WebSocketUri(user), CancellationToken.None);
            return client;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary>Reads (discarding data) until the connection ends: by a close frame, or by an error when it is dropped.</summary>
    private static async Task<(bool CloseFrame, Exception? Error)> ReadUntilConnectionEndsAsync(WebSocket socket)
    {
        using var cts = new CancellationTokenSource(s_deadline);
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer.AsMemory(), cts.Token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return (true, null);
                }
            }
        }
        catch (WebSocketException ex)
        {
            return (false, ex);
        }
    }

    private static async Task AssertReleasedAsync(PoolTestServer server, string user) =>
        await Conditions.WaitAsync(
            () => server.Factory.GetConnectionCount(user) == 0 && server.Factory.ActiveConnections == 0 && server.Factory.OpenConnectionCount == 0,
            s_deadline,
            $"every lease of '{user}' is released");
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;

namespace WebSocketPool.Client.Tests.Resumption;

/// <summary>
/// The .NET client with <see cref="WebSocketPoolClientOptions.Resume"/> against a real pool with Resume on, behind a
/// loopback TCP proxy the test owns: a cut mid-stream is resumed (the same connection on the server, Reconnected says
/// Resumed) and every message arrives once, in order, those sent while away included; messages the client sends reach
/// the handler without the protocol's header; a session that cannot be resumed (4004) is followed by a fresh one.
/// </summary>
public sealed class ClientResumeTests
{
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Resume_CutMidStream_EveryMessageOnceInOrderOnTheSameConnection()
    {
        const int PerPhase = 150;
        await using var server = await ClientTestServer.StartAsync(o =>
        {
            o.Resume.Enabled = true;
            o.SendQueueCapacity = 1024;
        });
        await using var proxy = new LoopbackTcpProxy(server.BaseUri);
        var user = ClientTestServer.NewUser("resume");
        var options = ClientTestServer.Options(proxy.WebSocketUri("user=" + user), user, o =>
        {
            o.Uri = proxy.WebSocketUri("user=" + user);
            o.Resume = true;
            o.ReconnectBaseDelay = TimeSpan.FromMilliseconds(50);
        });
        await using var client = new WebSocketPoolClient(options);
        var reconnected = new ConcurrentQueue<WebSocketPoolReconnectedEventArgs>();
        client.Reconnected += (_, e) => reconnected.Enqueue(e);
        await client.StartAsync();
        var id = server.Factory.GetConnections(user).Single().ConnectionId;
        var received = new ConcurrentQueue<string>();
        using var reading = new CancellationTokenSource(s_deadline);
        var reader = Task.Run(async () =>
        {
            await foreach (var message in client.ReadAllAsync(reading.Token))
            {
                received.Enqueue(message.GetText());
            }
        });
        var next = 0;

        async Task SendAsync(int count)
        {
            for (var i = 0; i < count; i++)
            {
                next++;
                (await server.Sender.SendTextToConnectionAsync(id, "n" + next)).Should().Be(SendResult.Queued);
            }
        }

        await SendAsync(PerPhase);
        await Conditions.WaitAsync(() => received.Count >= 20, s_deadline, "the first messages");
        proxy.CutAll().Should().BeGreaterThan(0);
        await SendAsync(PerPhase);
        await Conditions.WaitAsync(() => !reconnected.IsEmpty, s_deadline, "the client reconnects");
        await SendAsync(PerPhase);
        await client.SendTextAsync("from the client");
        try
        {
            await Conditions.WaitAsync(() => received.Count >= 3 * PerPhase + 1, s_deadline, "every message, and the echo of the client's");
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException(
                $"{ex.Message} (received {received.Count}, the last {string.Join(",", received.TakeLast(5))}; reconnects resumed: {string.Join(";", reconnected.Select(r => r.Resumed))}; client {client.State})", ex);
        }

        received.Should().Equal(Enumerable.Range(1, 3 * PerPhase).Select(i => "n" + i).Append("from the client"), "each message once, in order");
        reconnected.Single().Resumed.Should().BeTrue();
        server.Factory.GetConnections(user).Single().ConnectionId.Should().Be(id, "the same connection goes on");
        await Conditions.WaitAsync(() => server.Received().Of(user).Contains("from the client"), s_deadline, "the handler gets the app's message, without the header");
        await reading.CancelAsync();
        await reader.ContinueWith(static _ => { }, TaskScheduler.Default);
    }

    [Fact]
    public async Task Resume_SessionLapsed_RefusedWith4004ThenAFreshSession()
    {
        await using var server = await ClientTestServer.StartAsync(o =>
        {
            o.Resume.Enabled = true;
            o.Resume.Window = TimeSpan.FromSeconds(1);
        });
        await using var proxy = new LoopbackTcpProxy(server.BaseUri);
        var user = ClientTestServer.NewUser("lapsed");
        var options = ClientTestServer.Options(proxy.WebSocketUri("user=" + user), user, o =>
        {
            o.Uri = proxy.WebSocketUri("user=" + user);
            o.Resume = true;
        });
        await using var client = new WebSocketPoolClient(options);
        var reconnecting = new ConcurrentQueue<WebSocketPoolReconnectingEventArgs>();
        var reconnected = new ConcurrentQueue<WebSocketPoolReconnectedEventArgs>();
        client.Reconnecting += (_, e) => reconnecting.Enqueue(e);
        client.Reconnected += (_, e) => reconnected.Enqueue(e);
        await client.StartAsync();
        var first = server.Factory.GetConnections(user).Single().ConnectionId;

        // The network stays down past the 1 s window.
        proxy.Refusing = true;
        proxy.CutAll();
        await Conditions.WaitAsync(() => server.Factory.GetConnectionCount(user) == 0, s_deadline, "the held session lapses");
        proxy.Refusing = false;
        await Conditions.WaitAsync(() => !reconnected.IsEmpty, s_deadline, "the client connects afresh");

        reconnecting.Select(r => r.CloseStatus).Should().Contain(4004);
        reconnected.Last().Resumed.Should().BeFalse("a new session: the app resynchronises");
        server.Factory.GetConnections(user).Single().ConnectionId.Should().NotBe(first);
        await client.EchoAsync("fresh");
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text;
using Microsoft.Extensions.DependencyInjection;

namespace WebSocketPool.IntegrationTests.Resumption;

/// <summary>
/// The resume protocol is negotiated as a subprotocol composed with the app's own, and only a client that selected it sees
/// the envelope: a session frame first, then every server message numbered in order; its acks free the buffer, its
/// messages reach the handler without their header; a frame the protocol does not know is a protocol error (1002). A
/// plain client of the same pool, and a resume offer to a pool with resume off, see the app's messages unchanged.
/// </summary>
public sealed class ResumeNegotiationTests
{
    private const string Composite = ResumeTestClient.Protocol + "+chat.v2";
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Upgrade_ResumeOffered_SelectsTheCompositeAndNumbersEveryMessageInOrder()
    {
        const int Messages = 300;
        var handler = new EchoingHandler();
        await using var server = await StartAsync(handler, resume: true);
        using var cts = new CancellationTokenSource(s_deadline);
        using var client = NewClient(Composite, "chat.v2");
        await client.ConnectAsync(server.WebSocketUri("alice"), cts.Token);

        client.SubProtocol.Should().Be(Composite);
        var session = await ResumeTestClient.ReceiveAsync(client, cts.Token);
        session.Kind.Should().Be('s');
        session.Token.Should().NotBeNullOrEmpty();
        session.Number.Should().Be(0, "nothing is acknowledged on a fresh session");
        var handle = server.Factory.GetConnections("alice").Single();
        handle.SubProtocol.Should().Be("chat.v2", "the app sees its own subprotocol inside the session");

        var receiving = Task.Run(async () =>
        {
            var frames = new List<ResumeTestClient.Frame>();
            for (var i = 0; i < Messages; i++)
            {
                frames.Add(await ResumeTestClient.ReceiveAsync(client, cts.Token));
            }

            return frames;
        });
        for (var i = 1; i <= Messages; i++)
        {
            (await server.Sender.SendTextToUserAsync("alice", "message " + i, cts.Token)).Should().Be(1);
        }

        var received = await receiving;
        received.Select(f => f.Kind).Should().OnlyContain(k => k == 'm');
        received.Select(f => f.Type).Should().OnlyContain(t => t == WebSocketMessageType.Text);
        received.Select(f => f.Number).Should().Equal(Enumerable.Range(1, Messages).Select(i => (long)i));
        received.Select(f => f.Payload).Should().Equal(Enumerable.Range(1, Messages).Select(i => "message " + i));

        var resume = Manager(server, handle).Resume!;
        resume.Sent.Should().Be(Messages);
        resume.BufferedBytes.Should().BeGreaterThan(0, "nothing is acknowledged yet");
        await ResumeTestClient.AckAsync(client, Messages / 2, cts.Token);
        await ResumeTestClient.AckAsync(client, Messages, cts.Token);
        await Conditions.WaitAsync(() => resume.BufferedBytes == 0, s_deadline, "a cumulative ack frees every message up to it");
        resume.Acknowledged.Should().Be(Messages);

        await ResumeTestClient.SendAsync(client, "hello", cts.Token);
        var echo = await ResumeTestClient.ReceiveAsync(client, cts.Token);
        echo.Number.Should().Be(Messages + 1);
        echo.Payload.Should().Be("hello");
        handler.Received.Should().Equal(["hello"], "the handler gets the app's payload without the header, and no ack");

        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, cts.Token);
        await Conditions.WaitAsync(() => server.Factory.ActiveConnections == 0, s_deadline, "the connection ends");
    }

    [Fact]
    public async Task Echo_ManyRepliesAcknowledgedAsTheyCome_NeverOverflowTheBuffer()
    {
        // 1,000 replies of 100 bytes through a 4 KB buffer, each acknowledged once it arrives: the buffer never holds
        // more than one reply, so the session never overflows however the handler's replies reach the wire.
        const int Messages = 1_000;
        var handler = new EchoingHandler();
        await using var server = await StartAsync(handler, resume: true, bufferBytes: 4096);
        using var cts = new CancellationTokenSource(s_deadline);
        using var client = NewClient(Composite, "chat.v2");
        await client.ConnectAsync(server.WebSocketUri("alice"), cts.Token);
        (await ResumeTestClient.ReceiveAsync(client, cts.Token)).Kind.Should().Be('s');
        var resume = Manager(server, server.Factory.GetConnections("alice").Single()).Resume!;

        var text = new string('x', 100);
        for (var i = 1; i <= Messages; i++)
        {
            await ResumeTestClient.SendAsync(client, text, cts.Token);
            var echo = await ResumeTestClient.ReceiveAsync(client, cts.Token);
            echo.Number.Should().Be(i);
            await ResumeTestClient.AckAsync(client, echo.Number, cts.Token);
        }

        await Conditions.WaitAsync(() => resume.Acknowledged == Messages, s_deadline, "the last ack is read");
        resume.Overflowed.Should().BeFalse("at most one 100-byte reply was ever unacknowledged");
        resume.BufferedBytes.Should().Be(0);
        resume.Reserve(4096).Should().BeTrue("nothing is counted as queued once every reply is sent and acknowledged");

        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, cts.Token);
        await Conditions.WaitAsync(() => server.Factory.ActiveConnections == 0, s_deadline, "the connection ends");
    }

    [Fact]
    public async Task Upgrade_PlainClientOfAResumablePool_SeesNoEnvelope()
    {
        await using var server = await StartAsync(new EchoingHandler(), resume: true);
        using var cts = new CancellationTokenSource(s_deadline);
        using var client = NewClient("chat.v2");
        await client.ConnectAsync(server.WebSocketUri("alice"), cts.Token);

        client.SubProtocol.Should().Be("chat.v2");
        await client.SendAsync(Encoding.UTF8.GetBytes("m\nplain"), WebSocketMessageType.Text, true, cts.Token);

        (await ReceiveTextAsync(client, cts.Token)).Should().Be("m\nplain", "a plain client's messages are the app's, byte for byte, both ways");
        Manager(server, server.Factory.GetConnections("alice").Single()).Resume.Should().BeNull();
    }

    [Fact]
    public async Task Upgrade_ResumeOfferedToAPoolWithResumeOff_FallsBackToThePlainProtocol()
    {
        await using var server = await StartAsync(new EchoingHandler(), resume: false);
        using var cts = new CancellationTokenSource(s_deadline);
        using var client = NewClient(Composite, "chat.v2");
        await client.ConnectAsync(server.WebSocketUri("alice"), cts.Token);

        client.SubProtocol.Should().Be("chat.v2");
        await client.SendAsync(Encoding.UTF8.GetBytes("hi"), WebSocketMessageType.Text, true, cts.Token);
        (await ReceiveTextAsync(client, cts.Token)).Should().Be("hi");
    }

    [Fact]
    public async Task Upgrade_BareResumeOnAPoolWithoutSubProtocols_IsSelected()
    {
        await using var server = await PoolTestServer.StartAsync(o => o.Resume.Enabled = true, pool: Use(new EchoingHandler()));
        using var cts = new CancellationTokenSource(s_deadline);
        using var client = NewClient(ResumeTestClient.Protocol);
        await client.ConnectAsync(server.WebSocketUri("alice"), cts.Token);

        client.SubProtocol.Should().Be(ResumeTestClient.Protocol);
        (await ResumeTestClient.ReceiveAsync(client, cts.Token)).Kind.Should().Be('s');
        server.Factory.GetConnections("alice").Single().SubProtocol.Should().BeNull("the app speaks no subprotocol of its own");
    }

    [Theory]
    [InlineData("no header")]
    [InlineData("x\npayload")]
    [InlineData("a 5\n")]
    [InlineData("a -1\n")]
    public async Task Receive_FrameTheProtocolDoesNotAllow_ClosesWithProtocolError(string frame)
    {
        var handler = new EchoingHandler();
        await using var server = await StartAsync(handler, resume: true);
        using var cts = new CancellationTokenSource(s_deadline);
        using var client = NewClient(Composite);
        await client.ConnectAsync(server.WebSocketUri("alice"), cts.Token);
        (await ResumeTestClient.ReceiveAsync(client, cts.Token)).Kind.Should().Be('s');

        await client.SendAsync(Encoding.UTF8.GetBytes(frame), WebSocketMessageType.Text, true, cts.Token);

        var result = await client.ReceiveAsync(new byte[1024], cts.Token);
        result.MessageType.Should().Be(WebSocketMessageType.Close, "an ack above what was sent, or a frame without a known header, is a protocol error");
        client.CloseStatus.Should().Be(WebSocketCloseStatus.ProtocolError);
        handler.Received.Should().BeEmpty();
    }

    private static IsolatedWebSocketManager Manager(PoolTestServer server, WebSocketConnection handle)
    {
        server.Factory.TryGetManager(handle.ConnectionId, out var manager, out _).Should().BeTrue();
        return manager;
    }

    private static async Task<string> ReceiveTextAsync(ClientWebSocket client, CancellationToken cancellationToken)
    {
        var buffer = new byte[4096];
        var result = await client.ReceiveAsync(buffer, cancellationToken);
        result.EndOfMessage.Should().BeTrue();
        return Encoding.UTF8.GetString(buffer, 0, result.Count);
    }

    private static ClientWebSocket NewClient(params string[] offers)
    {
        var client = new ClientWebSocket();
        client.Options.KeepAliveInterval = TimeSpan.Zero;
        foreach (var offer in offers)
        {
            client.Options.AddSubProtocol(offer);
        }

        return client;
    }

    private static Task<PoolTestServer> StartAsync(EchoingHandler handler, bool resume, int? bufferBytes = null) => PoolTestServer.StartAsync(
        o =>
        {
            o.SubProtocols.Add("chat.v2");
            o.Resume.Enabled = resume;
            o.SendQueueCapacity = 1024;
            if (bufferBytes is { } bytes)
            {
                o.Resume.BufferBytes = bytes;
            }
        },
        pool: Use(handler));

    private static Action<IWebSocketPoolBuilder> Use(EchoingHandler handler) => p =>
    {
        p.Services.AddSingleton(handler);
        p.AddHandler<EchoingHandler>();
    };

    private sealed class EchoingHandler : WebSocketHandler
    {
        private readonly ConcurrentQueue<string> _received = new();

        public IEnumerable<string> Received => _received;

        public override ValueTask OnMessageAsync(WebSocketConnection connection, WebSocketMessage message, CancellationToken cancellationToken)
        {
            _received.Enqueue(Encoding.UTF8.GetString(message.Payload.Span));
            connection.Send(message.Payload.ToArray(), message.MessageType);
            return default;
        }
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using WebSocketPool.IntegrationTests.Reliability;
using Xunit.Abstractions;

namespace WebSocketPool.IntegrationTests.Connections;

/// <summary>
/// <see cref="WebSocketPoolOptions.MessageAssemblyTimeout"/>: a peer that starts a large message and stops sending would
/// otherwise pin its receive buffer (up to <see cref="WebSocketPoolOptions.MaxMessageBytes"/>) for as long as it keeps the
/// connection alive. Past the timeout the connection is closed with 1008, its receive loop ends (returning the buffer)
/// and its slot is released. Time is a <see cref="FakeTimeProvider"/>, advanced by the test; keep-alive is off so that
/// nothing but the assembly deadline can end the connection.
/// </summary>
public sealed class MessageAssemblyTimeoutTests(ITestOutputHelper output)
{
    private const int MaxMessageBytes = 64 * 1024;
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Receive_FirstFragmentThenSilence_ClosesWith1008AfterTimeoutAndReleases()
    {
        // Arrange
        var time = new FakeTimeProvider();
        await using var server = await StartAsync(time);
        await using var client = await RawWebSocketClient.ConnectAsync(server.BaseUri, "staller");
        await PoolTestServer.WaitUntilAsync(() => server.Factory.GetConnectionCount("staller") == 1, s_deadline, "the connection is open");

        // Act: most of a large message, then nothing.
        await client.SendFrameAsync(RawWebSocketClient.Binary, new byte[MaxMessageBytes - 1], fin: false);
        await PoolTestServer.WaitUntilAsync(() => Manager(server).IsAssemblingMessage, s_deadline, "the server waits for the rest of the message");
        time.Advance(s_timeout - TimeSpan.FromSeconds(1));
        var stillOpen = Manager(server).IsOpenForSend;
        time.Advance(TimeSpan.FromSeconds(1));
        var end = await client.ReadUntilEndAsync(s_deadline);
        output.WriteLine($"stalled message: {end}");

        // Assert: open until the timeout, then 1008, the receive loop gone and the slot free.
        stillOpen.Should().BeTrue("the message still had a second to complete");
        end.CloseCode.Should().Be(WebSocketCloseCodes.PolicyViolation);
        end.DataFrames.Should().Be(0);
        await PoolInvariants.AssertSettledAsync(server);
        ReliabilityEchoHandler.EndedFor(DisconnectReason.MessageAssemblyTimeout).Should().BePositive();
        await ReliabilityEchoHandler.AssertEchoRoundTripAsync(server);
    }

    [Fact]
    public async Task Receive_HeaderPromisesPayloadThatNeverComes_ClosesWith1008AndAbortsAfterCloseDeadline()
    {
        // Arrange: a single frame whose header promises 60,000 bytes, of which 10 arrive. The peer cannot answer a close
        // frame in the middle of that frame, so the close deadline (SendTimeout) ends the socket.
        var time = new FakeTimeProvider();
        await using var server = await StartAsync(time);
        await using var client = await RawWebSocketClient.ConnectAsync(server.BaseUri, "liar");
        await PoolTestServer.WaitUntilAsync(() => server.Factory.GetConnectionCount("liar") == 1, s_deadline, "the connection is open");
        var frame = RawWebSocketClient.EncodeFrame(RawWebSocketClient.Binary, new byte[60_000]);

        // Act
        await client.SendRawAsync(frame.AsMemory(0, 20));
        await PoolTestServer.WaitUntilAsync(() => Manager(server).IsAssemblingMessage, s_deadline, "the server waits for the rest of the frame");
        time.Advance(s_timeout);

        // The server marks the message as being assembled a moment before it arms the message's timer, so the advance
        // above may come first: the timer is then armed already due, and the fake clock fires it on its next step. Step
        // it a millisecond at a time (far from the close deadline) until the close frame has arrived.
        var closing = client.ReadCloseCodeAsync();
        await PoolTestServer.WaitUntilAsync(
            () =>
            {
                if (!closing.IsCompleted)
                {
                    time.Advance(TimeSpan.FromMilliseconds(1));
                }

                return closing.IsCompleted;
            },
            s_deadline,
            "the close frame arrives");
        var code = await closing;

        // The close deadline is armed once the close frame is out; step the clock until it has aborted the socket.
        await PoolTestServer.WaitUntilAsync(
            () =>
            {
                time.Advance(TimeSpan.FromSeconds(1));
                return server.Factory.ActiveConnections == 0;
            },
            s_deadline,
            "the close deadline aborts the socket the peer cannot close");

        // Assert
        code.Should().Be(WebSocketCloseCodes.PolicyViolation);
        await PoolInvariants.AssertSettledAsync(server);
    }

    [Fact]
    public async Task Receive_EachMessageCompletesWithinTimeout_ConnectionStaysOpenLongerThanTimeout()
    {
        // Arrange
        var time = new FakeTimeProvider();
        await using var server = await StartAsync(time);
        await using var client = await RawWebSocketClient.ConnectAsync(server.BaseUri, "patient");
        await PoolTestServer.WaitUntilAsync(() => server.Factory.GetConnectionCount("patient") == 1, s_deadline, "the connection is open");

        // Act: three slow messages, each finished two thirds of the way to the timeout: the clock is per message.
        for (var i = 0; i < 3; i++)
        {
            await client.SendFrameAsync(RawWebSocketClient.Text, "slow "u8.ToArray(), fin: false);
            await PoolTestServer.WaitUntilAsync(() => Manager(server).IsAssemblingMessage, s_deadline, "the server waits for the rest of the message");
            time.Advance(s_timeout * 2 / 3);
            await client.SendFrameAsync(RawWebSocketClient.Continuation, "message"u8.ToArray(), fin: true);

            // Assert: each is echoed whole.
            var echo = await client.ReceiveDataFrameAsync() ?? throw new InvalidOperationException("The server ended the connection.");
            echo.Opcode.Should().Be(RawWebSocketClient.Text, "the message is echoed, not closed ({0})", echo.Text);
            echo.Text.Should().Be("slow message");
        }

        server.Factory.GetConnectionCount("patient").Should().Be(1);
        Manager(server).IsAssemblingMessage.Should().BeFalse("no message is in progress");
    }

    [Fact]
    public async Task Receive_TimeoutZero_IncompleteMessageIsNotTimed()
    {
        // Arrange
        var time = new FakeTimeProvider();
        await using var server = await StartAsync(time, TimeSpan.Zero);
        await using var client = await RawWebSocketClient.ConnectAsync(server.BaseUri, "unbounded");
        await PoolTestServer.WaitUntilAsync(() => server.Factory.GetConnectionCount("unbounded") == 1, s_deadline, "the connection is open");

        // Act
        await client.SendFrameAsync(RawWebSocketClient.Text, "half "u8.ToArray(), fin: false);
        time.Advance(TimeSpan.FromHours(2));
        await client.SendFrameAsync(RawWebSocketClient.Continuation, "done"u8.ToArray(), fin: true);

        // Assert: the message was delivered after two hours.
        var echo = await client.ReceiveDataFrameAsync() ?? throw new InvalidOperationException("The server ended the connection.");
        echo.Text.Should().Be("half done");
        Manager(server).HasDeadlineTimer.Should().BeFalse("an assembly timeout of zero arms nothing");
    }

    [Fact]
    public async Task Receive_300ConnectionsEachStallingAPartialMessage_AllClosedWith1008AndReleased()
    {
        // Arrange: 300 peers each hold most of a 64 KB message.
        const int Peers = 300;
        var time = new FakeTimeProvider();
        await using var server = await StartAsync(time);
        var clients = new List<RawWebSocketClient>(Peers);
        try
        {
            for (var i = 0; i < Peers; i++)
            {
                var client = await RawWebSocketClient.ConnectAsync(server.BaseUri, $"staller-{i % 30}");
                clients.Add(client);
                await client.SendFrameAsync(RawWebSocketClient.Binary, new byte[MaxMessageBytes - 1], fin: false);
            }

            await PoolTestServer.WaitUntilAsync(
                () => server.Factory.OpenConnections.Values.Count(m => m.IsAssemblingMessage) == Peers,
                TimeSpan.FromSeconds(60),
                "every connection waits for the rest of its message");

            // Act
            time.Advance(s_timeout);
            var ends = await Task.WhenAll(clients.Select(c => c.ReadUntilEndAsync(TimeSpan.FromSeconds(60))));

            // Assert
            ends.Select(e => e.CloseCode).Should().AllBeEquivalentTo(WebSocketCloseCodes.PolicyViolation);
            await PoolInvariants.AssertSettledAsync(server);
            await ReliabilityEchoHandler.AssertEchoRoundTripAsync(server);
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    private static IsolatedWebSocketManager Manager(PoolTestServer server) => server.Factory.OpenConnections.Values.Single();

    private static Task<PoolTestServer> StartAsync(FakeTimeProvider time, TimeSpan? timeout = null) =>
        PoolTestServer.StartAsync(
            o =>
            {
                o.MaxMessageBytes = MaxMessageBytes;
                o.MessageAssemblyTimeout = timeout ?? s_timeout;
                o.KeepAliveInterval = TimeSpan.Zero;
                o.MaxConnectionsPerUser = 100;
            },
            p => p.AddHandler<ReliabilityEchoHandler>(),
            s => s.AddSingleton<TimeProvider>(time));
}

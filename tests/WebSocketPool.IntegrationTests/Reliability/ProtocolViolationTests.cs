// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Xunit.Abstractions;

namespace WebSocketPool.IntegrationTests.Reliability;

/// <summary>
/// Frames no well-behaved client sends, written by hand over a raw socket. For each, RFC 6455 requires the server to
/// fail the connection: it must end promptly (a close frame with the right code, or a reset where the RFC allows
/// simply dropping the connection), its lease must be released, and the server must go on serving everyone else.
/// Each case runs for several rounds on one server, and nothing the pool keeps may grow across them.
/// </summary>
public sealed class ProtocolViolationTests(ITestOutputHelper output)
{
    internal const int MaxMessageBytes = 1024;
    private const string Attacker = "mallory";

    private static readonly TimeSpan s_endDeadline = TimeSpan.FromSeconds(15);

    [Theory]
    [InlineData("unmasked-text", 1002)]
    [InlineData("reserved-data-opcode-3", 1002)]
    [InlineData("reserved-data-opcode-7", 1002)]
    [InlineData("reserved-control-opcode-b", 1002)]
    [InlineData("reserved-control-opcode-f", 1002)]
    [InlineData("rsv1-without-extension", 1002)]
    [InlineData("rsv2-without-extension", 1002)]
    [InlineData("rsv3-without-extension", 1002)]
    [InlineData("fragmented-ping", 1002)]
    [InlineData("fragmented-close", 1002)]
    [InlineData("oversized-ping-126", 1002)]
    [InlineData("oversized-close-126", 1002)]
    [InlineData("continuation-without-start", 1002)]
    [InlineData("new-message-inside-fragmented-message", 1002)]
    [InlineData("close-one-byte-payload", 1002)]
    [InlineData("invalid-utf8-text", 1007)]
    [InlineData("invalid-utf8-text-fragmented", 1007)]
    [InlineData("one-byte-over-max-whole", 1009)]
    [InlineData("one-byte-over-max-1-byte-fragments", 1009)]
    public async Task Receive_ProtocolViolation_FailsConnectionReleasesLeaseAndKeepsServing(string violation, int expectedCloseCode)
    {
        var time = new FakeTimeProvider();
        await using var server = await StartAsync(time);

        await PoolInvariants.AssertNoGrowthAsync(server, async _ =>
        {
            await using var client = await RawWebSocketClient.ConnectAsync(server.BaseUri, Attacker);
            await PoolTestServer.WaitUntilAsync(() => server.Factory.GetConnectionCount(Attacker) == 1, PoolInvariants.SettleDeadline, "the attacker's connection is counted");

            try
            {
                await SendViolationAsync(client, violation);
            }
            catch (System.Net.Sockets.SocketException)
            {
                // The server may drop the connection before the last frame of a violation is written.
            }

            var end = await client.ReadUntilEndAsync(s_endDeadline);
            output.WriteLine($"{violation}: {end}");

            AssertFailedAsRfcAllows(end, expectedCloseCode, violation);
        }, time);

        await ReliabilityEchoHandler.AssertEchoRoundTripAsync(server);
        await PoolInvariants.AssertSettledAsync(server);
    }

    /// <summary>
    /// .NET's WebSocket does not fail an unmasked close frame at once: it waits for bytes that never come (a bare
    /// Kestrel WebSocket behaves the same). Such a connection is no worse than an idle one, and keep-alive ends it:
    /// the peer sends nothing more, so no pong arrives, the socket is aborted and the lease released.
    /// </summary>
    [Fact]
    public async Task Receive_UnmaskedCloseThenSilence_EndsByKeepAliveAndReleases()
    {
        var time = new FakeTimeProvider();
        await using var server = await PoolTestServer.StartAsync(
            o =>
            {
                o.KeepAliveInterval = TimeSpan.FromSeconds(1);
                o.KeepAliveTimeout = TimeSpan.FromSeconds(2);
            },
            p => p.AddHandler<ReliabilityEchoHandler>(),
            s => s.AddSingleton<TimeProvider>(time));

        await PoolInvariants.AssertNoGrowthAsync(server, async _ =>
        {
            var clients = new List<RawWebSocketClient>();
            for (var i = 0; i < 3; i++)
            {
                var client = await RawWebSocketClient.ConnectAsync(server.BaseUri, Attacker);
                await client.SendFrameAsync(RawWebSocketClient.Close, new byte[] { 0x03, 0xE8 }, mask: false);
                clients.Add(client);
            }

            foreach (var client in clients)
            {
                var end = await client.ReadUntilEndAsync(s_endDeadline, answerPings: false);
                output.WriteLine($"unmasked close: {end}");
                end.DataFrames.Should().Be(0);
                await client.DisposeAsync();
            }
        }, time, rounds: ReliabilitySettings.Long ? 10 : 2, peakConnections: 3);

        await ReliabilityEchoHandler.AssertEchoRoundTripAsync(server);
    }

    [Theory]
    [InlineData(999)]
    [InlineData(1004)]
    [InlineData(1005)]
    [InlineData(1006)]
    [InlineData(1015)]
    [InlineData(1016)]
    [InlineData(2999)]
    [InlineData(5000)]
    [InlineData(65535)]
    public async Task Receive_InvalidCloseCode_FailsWith1002AndReleases(int code)
    {
        var time = new FakeTimeProvider();
        await using var server = await StartAsync(time);

        await PoolInvariants.AssertNoGrowthAsync(server, async _ =>
        {
            await using var client = await RawWebSocketClient.ConnectAsync(server.BaseUri, Attacker);
            await client.SendCloseAsync(code);
            var end = await client.ReadUntilEndAsync(s_endDeadline);
            output.WriteLine($"close code {code}: {end}");

            AssertFailedAsRfcAllows(end, 1002, $"close code {code}");
        }, time);

        await ReliabilityEchoHandler.AssertEchoRoundTripAsync(server);
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(1001)]
    [InlineData(3000)]
    [InlineData(4999)]
    public async Task Receive_ValidCloseCode_EchoesCodeAndReleases(int code)
    {
        var time = new FakeTimeProvider();
        await using var server = await StartAsync(time);

        await PoolInvariants.AssertNoGrowthAsync(server, async _ =>
        {
            await using var client = await RawWebSocketClient.ConnectAsync(server.BaseUri, Attacker);
            await client.SendCloseAsync(code, "bye");
            var end = await client.ReadUntilEndAsync(s_endDeadline);

            end.CloseCode.Should().Be(code, "the server answers a valid close with the same code ({0})", end);
        }, time);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Receive_MessageOfExactlyMaxBytes_IsEchoed(bool oneByteFragments)
    {
        var time = new FakeTimeProvider();
        await using var server = await StartAsync(time);

        await PoolInvariants.AssertNoGrowthAsync(server, async _ =>
        {
            await using var client = await RawWebSocketClient.ConnectAsync(server.BaseUri, "alice");
            var payload = Encoding.ASCII.GetBytes(new string('x', MaxMessageBytes));
            await SendMessageAsync(client, RawWebSocketClient.Binary, payload, oneByteFragments);

            using var cts = new CancellationTokenSource(s_endDeadline);
            var echoed = new List<byte>();
            while (echoed.Count < payload.Length)
            {
                var frame = await client.ReceiveDataFrameAsync(cts.Token);
                frame.Should().NotBeNull("the server echoes a message at the limit");
                frame!.Value.Opcode.Should().NotBe(RawWebSocketClient.Close, "a message of exactly MaxMessageBytes is allowed");
                echoed.AddRange(frame.Value.Payload);
            }

            echoed.Should().Equal(payload);
            await client.SendCloseAsync(1000);
            (await client.ReadUntilEndAsync(s_endDeadline)).CloseCode.Should().Be(1000);
        }, time);
    }

    internal static Task<PoolTestServer> StartAsync(FakeTimeProvider time) =>
        PoolTestServer.StartAsync(
            o => o.MaxMessageBytes = MaxMessageBytes,
            p => p.AddHandler<ReliabilityEchoHandler>(),
            s => s.AddSingleton<TimeProvider>(time));

    /// <summary>
    /// RFC 6455 §7.1.7: failing the connection means the server SHOULD send a close frame with the reason and then
    /// drop the TCP connection, or MAY just drop it. A close frame with any other code is wrong.
    /// </summary>
    internal static void AssertFailedAsRfcAllows(RawWebSocketClient.ConnectionEnd end, int expectedCloseCode, string what)
    {
        if (end.CloseCode is { } code)
        {
            code.Should().Be(expectedCloseCode, "a {0} fails the connection with {1} ({2})", what, expectedCloseCode, end);
        }
        else
        {
            end.DataFrames.Should().Be(0, "nothing from a {0} is delivered or echoed ({1})", what, end);
        }
    }

    private static async Task SendViolationAsync(RawWebSocketClient client, string violation)
    {
        var hello = "hello"u8.ToArray();
        switch (violation)
        {
            case "unmasked-text":
                await client.SendFrameAsync(RawWebSocketClient.Text, hello, mask: false);
                break;
            case "reserved-data-opcode-3":
                await client.SendFrameAsync(0x3, hello);
                break;
            case "reserved-data-opcode-7":
                await client.SendFrameAsync(0x7, hello);
                break;
            case "reserved-control-opcode-b":
                await client.SendFrameAsync(0xB, hello);
                break;
            case "reserved-control-opcode-f":
                await client.SendFrameAsync(0xF, hello);
                break;
            case "rsv1-without-extension":
                await client.SendFrameAsync(RawWebSocketClient.Text, hello, rsv: 0b100);
                break;
            case "rsv2-without-extension":
                await client.SendFrameAsync(RawWebSocketClient.Text, hello, rsv: 0b010);
                break;
            case "rsv3-without-extension":
                await client.SendFrameAsync(RawWebSocketClient.Binary, hello, rsv: 0b001);
                break;
            case "fragmented-ping":
                await client.SendFrameAsync(RawWebSocketClient.Ping, hello, fin: false);
                await client.SendFrameAsync(RawWebSocketClient.Continuation, hello);
                break;
            case "fragmented-close":
                await client.SendFrameAsync(RawWebSocketClient.Close, new byte[] { 0x03, 0xE8 }, fin: false);
                break;
            case "oversized-ping-126":
                await client.SendFrameAsync(RawWebSocketClient.Ping, new byte[126]);
                break;
            case "oversized-close-126":
                var close = new byte[126];
                close[0] = 0x03;
                close[1] = 0xE8;
                close.AsSpan(2).Fill((byte)'a');
                await client.SendFrameAsync(RawWebSocketClient.Close, close);
                break;
            case "continuation-without-start":
                await client.SendFrameAsync(RawWebSocketClient.Continuation, hello);
                break;
            case "new-message-inside-fragmented-message":
                await client.SendFrameAsync(RawWebSocketClient.Text, hello, fin: false);
                await client.SendFrameAsync(RawWebSocketClient.Text, hello);
                break;
            case "close-one-byte-payload":
                await client.SendFrameAsync(RawWebSocketClient.Close, new byte[] { 0x03 });
                break;
            case "invalid-utf8-text":
                await client.SendFrameAsync(RawWebSocketClient.Text, new byte[] { (byte)'o', (byte)'k', 0xC3, 0x28, (byte)'!' });
                break;
            case "invalid-utf8-text-fragmented":
                await client.SendFrameAsync(RawWebSocketClient.Text, new byte[] { (byte)'o', 0xF0, 0x9F }, fin: false);
                await client.SendFrameAsync(RawWebSocketClient.Continuation, new byte[] { 0x28, (byte)'!' });
                break;
            case "one-byte-over-max-whole":
                await SendMessageAsync(client, RawWebSocketClient.Binary, new byte[MaxMessageBytes + 1], oneByteFragments: false);
                break;
            case "one-byte-over-max-1-byte-fragments":
                await SendMessageAsync(client, RawWebSocketClient.Binary, new byte[MaxMessageBytes + 1], oneByteFragments: true);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(violation), violation, "Unknown violation.");
        }
    }

    private static async Task SendMessageAsync(RawWebSocketClient client, byte opcode, byte[] payload, bool oneByteFragments)
    {
        if (!oneByteFragments)
        {
            await client.SendFrameAsync(opcode, payload);
            return;
        }

        // One frame per byte, written in a single burst: the server must count the message across fragments.
        using var wire = new MemoryStream();
        for (var i = 0; i < payload.Length; i++)
        {
            wire.Write(RawWebSocketClient.EncodeFrame(i == 0 ? opcode : RawWebSocketClient.Continuation, payload.AsSpan(i, 1), fin: i == payload.Length - 1));
        }

        try
        {
            await client.SendRawAsync(wire.ToArray());
        }
        catch (System.Net.Sockets.SocketException)
        {
            // The server may fail the connection before the last fragment arrives; the test reads how it ended.
        }
    }
}

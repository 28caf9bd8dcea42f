// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using WebSocketPool.IntegrationTests.Infrastructure;
using WebSocketPool.IntegrationTests.Reliability;

namespace WebSocketPool.IntegrationTests.Connections;

/// <summary>
/// permessage-deflate is opt-in per pool: off by default, a client that offers it gets no extension in the 101 and
/// uncompressed frames; on, the 101 accepts it, the server's frames carry RSV1 and messages of every size, above
/// 64 KiB included, text and binary, round-trip compressed in both directions.
/// </summary>
public sealed class CompressionTests
{
    private const int MaxMessage = 1024 * 1024;
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(30);
    private static readonly string s_rawText = string.Concat(Enumerable.Repeat("compressible text, ", 50));
    private static readonly int[] s_sizes = [1, 125, 126, 4096, 65_535, 65_536, 65_537, 200_000, MaxMessage];

    [Fact]
    public async Task Upgrade_CompressionOff_ClientOfferingDeflateGetsNone()
    {
        await using var server = await StartAsync(enabled: false);
        using var client = NewClient(offerDeflate: true);

        await client.ConnectAsync(server.WebSocketUri("alice"), CancellationToken.None);

        client.HttpResponseHeaders!.Keys.Should().NotContain(k => k.Equals("Sec-WebSocket-Extensions", StringComparison.OrdinalIgnoreCase));
        await AssertRoundTripsAsync(client);
        var frame = await RawEchoFrameAsync(server, "bob");
        frame.Head.Should().NotContain("permessage-deflate");
        frame.Frame.Rsv.Should().Be(0, "an uncompressed frame has no RSV1");
        frame.Frame.Payload.Length.Should().Be(s_rawText.Length);

        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await PoolInvariants.AssertSettledAsync(server);
    }

    [Fact]
    public async Task Upgrade_CompressionOn_ClientOfferingDeflateGetsItAndMessagesRoundTripBothWays()
    {
        await using var server = await StartAsync(enabled: true);
        using var client = NewClient(offerDeflate: true);

        await client.ConnectAsync(server.WebSocketUri("alice"), CancellationToken.None);

        client.HttpResponseHeaders!["Sec-WebSocket-Extensions"].Should().ContainSingle().Which.Should().StartWith("permessage-deflate");
        await AssertRoundTripsAsync(client);

        // On the wire: the server compresses what it sends (RSV1 set, fewer bytes than the text).
        var frame = await RawEchoFrameAsync(server, "bob");
        frame.Head.Should().Contain("permessage-deflate");
        frame.Frame.Rsv.Should().Be(4, "a compressed message's first frame has RSV1");
        frame.Frame.Payload.Length.Should().BeLessThan(s_rawText.Length);

        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await PoolInvariants.AssertSettledAsync(server);
    }

    [Fact]
    public async Task Upgrade_CompressionOn_ClientNotOfferingItGetsNone()
    {
        await using var server = await StartAsync(enabled: true);
        using var client = NewClient(offerDeflate: false);

        await client.ConnectAsync(server.WebSocketUri("alice"), CancellationToken.None);

        client.HttpResponseHeaders!.Keys.Should().NotContain(k => k.Equals("Sec-WebSocket-Extensions", StringComparison.OrdinalIgnoreCase));
        await AssertRoundTripsAsync(client);
        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await PoolInvariants.AssertSettledAsync(server);
    }

    [Fact]
    public async Task Upgrade_CompressionSettings_AreAnsweredInTheHandshake()
    {
        await using var server = await StartAsync(enabled: true, o =>
        {
            o.Compression.ServerMaxWindowBits = 10;
            o.Compression.DisableServerContextTakeover = true;
        });
        using var client = NewClient(offerDeflate: true);

        await client.ConnectAsync(server.WebSocketUri("alice"), CancellationToken.None);

        var extension = client.HttpResponseHeaders!["Sec-WebSocket-Extensions"].Should().ContainSingle().Subject;
        extension.Should().Contain("server_no_context_takeover").And.Contain("server_max_window_bits=10");
        await AssertRoundTripsAsync(client);
        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await PoolInvariants.AssertSettledAsync(server);
    }

    private static Task<PoolTestServer> StartAsync(bool enabled, Action<WebSocketPoolOptions>? configure = null) =>
        PoolTestServer.StartAsync(
            o =>
            {
                o.MaxMessageBytes = MaxMessage;
                o.Compression.Enabled = enabled;
                configure?.Invoke(o);
            },
            pool: p => p.AddHandler<CoreTestHandler>());

    private static ClientWebSocket NewClient(bool offerDeflate)
    {
        var client = new ClientWebSocket();
        client.Options.KeepAliveInterval = TimeSpan.Zero;
        client.Options.CollectHttpResponseDetails = true;
        if (offerDeflate)
        {
            client.Options.DangerousDeflateOptions = new WebSocketDeflateOptions();
        }

        return client;
    }

    /// <summary>Each size, as repetitive text and as random binary, sent and echoed back whole and unchanged.</summary>
    private static async Task AssertRoundTripsAsync(ClientWebSocket client)
    {
        var random = new Random(15);
        var buffer = new byte[MaxMessage];
        foreach (var size in s_sizes)
        {
            var text = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("hello, pool; ", size / 13 + 1)))[..size];
            var binary = new byte[size];
            random.NextBytes(binary);
            foreach (var (payload, type) in new[] { (text, WebSocketMessageType.Text), (binary, WebSocketMessageType.Binary) })
            {
                using var cts = new CancellationTokenSource(s_deadline);
                await client.SendAsync(payload, type, endOfMessage: true, cts.Token);
                var length = 0;
                while (true)
                {
                    var result = await client.ReceiveAsync(buffer.AsMemory(length), cts.Token);
                    result.MessageType.Should().Be(type, "the echo of a {0}-byte {1} message", size, type);
                    length += result.Count;
                    if (result.EndOfMessage)
                    {
                        break;
                    }
                }

                length.Should().Be(size);
                buffer.AsSpan(0, length).SequenceEqual(payload).Should().BeTrue("the {0}-byte {1} message comes back unchanged", size, type);
            }
        }
    }

    /// <summary>A raw client offers deflate, sends <see cref="s_rawText"/> uncompressed and reads the echo's first frame.</summary>
    private static async Task<(string Head, RawWebSocketClient.RawFrame Frame)> RawEchoFrameAsync(PoolTestServer server, string user)
    {
        using var cts = new CancellationTokenSource(s_deadline);
        await using var raw = await RawWebSocketClient.OpenAsync(server.BaseUri, cancellationToken: cts.Token);
        await raw.SendRawAsync(RawWebSocketClient.UpgradeRequest(server.BaseUri, user, "/ws", null,
            ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")), cts.Token);
        (await raw.ReadHandshakeResponseAsync(cts.Token)).Should().Be(101);
        await raw.SendTextAsync(s_rawText, cts.Token);
        var frame = await raw.ReceiveDataFrameAsync(cts.Token);
        frame.Should().NotBeNull();
        frame!.Value.Opcode.Should().Be(RawWebSocketClient.Text);
        await raw.SendCloseAsync(1000, cancellationToken: cts.Token);
        await raw.ReadUntilEndAsync(s_deadline);
        return (raw.HandshakeResponse, frame.Value);
    }
}

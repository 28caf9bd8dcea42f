// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace WebSocketPool.IntegrationTests.Reliability;

/// <summary>
/// Peers that disappear without a closing handshake: a TCP reset (SO_LINGER 0), a client process killed with its
/// connections open, and a half-open peer that stops answering entirely (no FIN, no reset) — found only by keep-alive.
/// Every one of their leases must come back, and the peers that are still there must not notice.
/// </summary>
public sealed class VanishingPeerTests
{
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Reset_WithLingerZero_ReleasesEveryLease()
    {
        var time = new FakeTimeProvider();
        await using var server = await ProtocolViolationTests.StartAsync(time);
        using var bystander = await server.ConnectAsync("bystander");
        var expected = new Dictionary<string, int> { ["bystander"] = 1 };

        await PoolInvariants.AssertNoGrowthAsync(server, async _ =>
        {
            var clients = new List<RawWebSocketClient>();
            for (var i = 0; i < 10; i++)
            {
                var client = await RawWebSocketClient.ConnectAsync(server.BaseUri, "vanisher" + (i % 2));
                clients.Add(client);
                using var cts = new CancellationTokenSource(s_deadline);
                await client.SendTextAsync("before the reset", cts.Token);
                (await client.ReceiveDataFrameAsync(cts.Token))!.Value.Text.Should().Be("before the reset");
            }

            await PoolTestServer.WaitUntilAsync(() => server.Factory.ActiveConnections == 11, s_deadline, "all connections are counted");
            for (var i = 0; i < clients.Count; i++)
            {
                if (i % 2 == 1)
                {
                    // Half of them vanish in the middle of a frame.
                    var frame = RawWebSocketClient.EncodeFrame(RawWebSocketClient.Text, Encoding.UTF8.GetBytes("cut off in the middle"));
                    await clients[i].SendRawAsync(frame.AsMemory(0, frame.Length / 2));
                }

                clients[i].Reset();
            }
        }, time, expected: expected, peakConnections: 11);

        await AssertStillEchoesAsync(bystander, "the bystander never noticed");
        await ReliabilityEchoHandler.AssertEchoRoundTripAsync(server);
    }

    [Fact]
    public async Task ProcessKill_WhileHoldingConnections_ReleasesAllItsLeases()
    {
        var time = new FakeTimeProvider();
        await using var server = await ProtocolViolationTests.StartAsync(time);
        using var bystander = await server.ConnectAsync("bystander");
        var expected = new Dictionary<string, int> { ["bystander"] = 1 };
        const int Held = 20;

        await PoolInvariants.AssertNoGrowthAsync(server, async _ =>
        {
            using var holder = ConnectionHolderProcess.Start(server.BaseUri.Port, Held, users: 4);
            await holder.WaitReadyAsync(s_deadline);
            await PoolTestServer.WaitUntilAsync(() => server.Factory.ActiveConnections == Held + 1, s_deadline, "the child's connections are counted");

            holder.Kill();

            await PoolInvariants.AssertSettledAsync(server, expected);
        }, time, rounds: ReliabilitySettings.Long ? 20 : 3, expected: expected, peakConnections: Held + 1);

        await AssertStillEchoesAsync(bystander, "the bystander never noticed");
    }

    [Fact]
    public async Task HalfOpenPeer_ThatStopsAnswering_IsAbortedByKeepAliveAndReleased()
    {
        await using var server = await PoolTestServer.StartAsync(
            o =>
            {
                o.KeepAliveInterval = TimeSpan.FromSeconds(1);
                o.KeepAliveTimeout = TimeSpan.FromSeconds(2);
            },
            p => p.AddHandler<ReliabilityEchoHandler>());

        for (var round = 0; round < (ReliabilitySettings.Long ? 10 : 2); round++)
        {
            var timeouts = ReliabilityEchoHandler.EndedFor(DisconnectReason.KeepAliveTimeout);

            // A healthy peer keeps a receive pending, so its WebSocket answers every ping.
            using var healthy = await server.ConnectAsync("healthy");
            var buffer = new byte[256];
            var pending = healthy.ReceiveAsync(buffer, CancellationToken.None);

            // Half-open peers: upgraded, then silent for good. The socket stays open: no FIN, no reset, no pong.
            var silent = new List<RawWebSocketClient>();
            for (var i = 0; i < 5; i++)
            {
                silent.Add(await RawWebSocketClient.ConnectAsync(server.BaseUri, "half-open" + (i % 2)));
            }

            await PoolTestServer.WaitUntilAsync(() => server.Factory.ActiveConnections == 6, s_deadline, "all connections are counted");

            await PoolInvariants.AssertSettledAsync(server, new Dictionary<string, int> { ["healthy"] = 1 });
            ReliabilityEchoHandler.EndedFor(DisconnectReason.KeepAliveTimeout).Should().Be(timeouts + 5, "each silent peer ends by keep-alive timeout ({0})", ReliabilityEchoHandler.DescribeEnds());
            silent.Should().OnlyContain(c => c.Socket.Connected, "the silent peers never closed anything; only keep-alive found them");

            await healthy.SendAsync(Encoding.UTF8.GetBytes("alive"), WebSocketMessageType.Text, true, CancellationToken.None);
            var result = await pending.WaitAsync(s_deadline);
            Encoding.UTF8.GetString(buffer, 0, result.Count).Should().Be("alive", "a peer that answers pings outlives the timeout");
            await healthy.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
            foreach (var client in silent)
            {
                await client.DisposeAsync();
            }

            await PoolInvariants.AssertSettledAsync(server);
        }
    }

    private static async Task AssertStillEchoesAsync(ClientWebSocket client, string because)
    {
        using var cts = new CancellationTokenSource(s_deadline);
        await client.SendAsync("ping"u8.ToArray(), WebSocketMessageType.Text, true, cts.Token);
        var buffer = new byte[64];
        var result = await client.ReceiveAsync(buffer, cts.Token);
        Encoding.UTF8.GetString(buffer, 0, result.Count).Should().Be("ping", because);
    }

    /// <summary>
    /// A separate process that opens WebSocket connections and holds them until it is killed. It is a bash script on
    /// <c>/dev/tcp</c> using only builtins, so killing the one process closes every socket it holds, exactly as a
    /// crashed client does: the kernel, not the client, ends the connections.
    /// </summary>
    private sealed class ConnectionHolderProcess : IDisposable
    {
        private const string Script = """
            port=$1; count=$2; users=$3
            for ((i = 0; i < count; i++)); do
              exec {fd}<>"/dev/tcp/127.0.0.1/$port" || exit 2
              printf 'GET /ws?user=holder%s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n' "$((i % users))" "$port" >&"$fd"
              IFS= read -r -u "$fd" status || exit 3
              case "$status" in *" 101 "*) ;; *) echo "refused: $status"; exit 4 ;; esac
              while IFS= read -r -u "$fd" line && [ "$line" != $'\r' ]; do :; done
            done
            echo ready
            read -r _
            """;

        private readonly Process _process;

        private ConnectionHolderProcess(Process process)
        {
            _process = process;
        }

        public static ConnectionHolderProcess Start(int port, int count, int users)
        {
            var info = new ProcessStartInfo("bash")
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            };
            foreach (var argument in new[] { "-c", Script, "holder", port.ToString(System.Globalization.CultureInfo.InvariantCulture), count.ToString(System.Globalization.CultureInfo.InvariantCulture), users.ToString(System.Globalization.CultureInfo.InvariantCulture) })
            {
                info.ArgumentList.Add(argument);
            }

            return new ConnectionHolderProcess(Process.Start(info)!);
        }

        public async Task WaitReadyAsync(TimeSpan deadline)
        {
            using var cts = new CancellationTokenSource(deadline);
            var line = await _process.StandardOutput.ReadLineAsync(cts.Token);
            line.Should().Be("ready", "the child process opened all its connections");
        }

        public void Kill()
        {
            _process.Kill();
            _process.WaitForExit(20_000).Should().BeTrue("the killed process exits");
        }

        public void Dispose()
        {
            if (!_process.HasExited)
            {
                _process.Kill();
            }

            _process.Dispose();
        }
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.Sockets;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace WebSocketPool.IntegrationTests.Reliability;

/// <summary>
/// Upgrade requests that arrive one byte at a time or stop half-way. A slow but complete handshake is served like any
/// other; one slower than Kestrel's header timeout is cut off by Kestrel before the pool sees it; one abandoned before
/// or right after the request is complete leaves no slot behind. Meanwhile everyone else is served.
/// </summary>
public sealed class HandshakeAbuseTests
{
    private const int Attempts = 5;

    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Upgrade_DribbledOneByteAtATime_IsServedAndReleased()
    {
        var time = new FakeTimeProvider();
        await using var server = await ProtocolViolationTests.StartAsync(time);

        await PoolInvariants.AssertNoGrowthAsync(server, async _ =>
        {
            await using var client = await RawWebSocketClient.OpenAsync(server.BaseUri);
            var request = RawWebSocketClient.UpgradeRequest(server.BaseUri, "slow");
            for (var i = 0; i < request.Length; i++)
            {
                // One TCP segment per byte (Nagle is off): Kestrel must assemble the request across reads.
                await client.SendRawAsync(request.AsMemory(i, 1));
            }

            using var cts = new CancellationTokenSource(s_deadline);
            (await client.ReadHandshakeResponseAsync(cts.Token)).Should().Be(101);
            await client.SendTextAsync("dribbled", cts.Token);
            var echo = await client.ReceiveDataFrameAsync(cts.Token);
            echo!.Value.Text.Should().Be("dribbled");
            await client.SendCloseAsync(1000, cancellationToken: cts.Token);
            (await client.ReadUntilEndAsync(s_deadline)).CloseCode.Should().Be(1000);
        }, time);

        await ReliabilityEchoHandler.AssertEchoRoundTripAsync(server);
    }

    [Fact]
    public async Task Upgrade_SlowerThanHeaderTimeout_IsCutOffByKestrelWhileOthersAreServed()
    {
        var time = new FakeTimeProvider();
        await using var server = await PoolTestServer.StartAsync(
            pool: p => p.AddHandler<ReliabilityEchoHandler>(),
            services: s =>
            {
                s.AddSingleton<TimeProvider>(time);
                s.Configure<KestrelServerOptions>(o => o.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(1));
            });
        var attackers = 10 * ReliabilitySettings.Scale;

        var dribblers = Enumerable.Range(0, attackers).Select(i => DribbleUntilCutOffAsync(server, "loris" + i)).ToList();

        // While they dribble, nobody else waits on them.
        for (var i = 0; i < 3; i++)
        {
            await ReliabilityEchoHandler.AssertEchoRoundTripAsync(server);
        }

        var outcomes = await Task.WhenAll(dribblers);
        outcomes.Should().OnlyContain(o => o.CutOff, "Kestrel's header timeout ends every handshake that never completes");
        server.Factory.GetSnapshot().Rejected.Values.Sum().Should().Be(0, "an unfinished request never reaches admission");
        await PoolInvariants.AssertSettledAsync(server);
        await ReliabilityEchoHandler.AssertEchoRoundTripAsync(server);
    }

    [Theory]
    [InlineData("half-request-then-fin")]
    [InlineData("half-request-then-reset")]
    [InlineData("full-request-then-reset")]
    [InlineData("full-request-then-fin")]
    public async Task Upgrade_AbandonedHalfWay_LeavesNoSlotBehind(string how)
    {
        var time = new FakeTimeProvider();
        var ended = 0;
        await using var server = await PoolTestServer.StartAsync(
            o => o.MaxMessageBytes = ProtocolViolationTests.MaxMessageBytes,
            p => p.AddHandler<ReliabilityEchoHandler>(),
            s =>
            {
                s.AddSingleton<TimeProvider>(time);
                // Counts the TCP connections this server has finished with. Kestrel returns from a connection only after
                // its request (if one was complete) went through the pipeline: refused, abandoned before the upgrade, or
                // upgraded and released.
                s.Configure<KestrelServerOptions>(k => k.ConfigureEndpointDefaults(listen => listen.Use(next => async connection =>
                {
                    try
                    {
                        await next(connection);
                    }
                    finally
                    {
                        Interlocked.Increment(ref ended);
                    }
                })));
            });

        await PoolInvariants.AssertNoGrowthAsync(server, async _ =>
        {
            var clients = new List<RawWebSocketClient>();
            var endedBefore = Volatile.Read(ref ended);
            for (var i = 0; i < Attempts; i++)
            {
                var client = await RawWebSocketClient.OpenAsync(server.BaseUri);
                clients.Add(client);
                var request = RawWebSocketClient.UpgradeRequest(server.BaseUri, "quitter");
                var part = how.StartsWith("half", StringComparison.Ordinal) ? request.AsMemory(0, request.Length / 2) : request;
                await client.SendRawAsync(part);
            }

            foreach (var client in clients)
            {
                if (how.EndsWith("reset", StringComparison.Ordinal))
                {
                    client.Reset();
                }
                else
                {
                    client.Socket.Shutdown(SocketShutdown.Send);
                    await client.DisposeAsync();
                }
            }

            // Whether a request reaches the pool depends on what Kestrel reads first: the request, the FIN (taken for the
            // client going away, so an admitted request is abandoned before the upgrade) or the reset (which may discard
            // the unread request). Every way, the connection ends; once all have, the settle check proves no slot stayed.
            await PoolTestServer.WaitUntilAsync(() => Volatile.Read(ref ended) - endedBefore >= Attempts, s_deadline, "every abandoned connection has ended on the server");
        }, time, peakConnections: Attempts);

        await ReliabilityEchoHandler.AssertEchoRoundTripAsync(server);
    }

    private static async Task<(bool CutOff, int? Status)> DribbleUntilCutOffAsync(PoolTestServer server, string user)
    {
        await using var client = await RawWebSocketClient.OpenAsync(server.BaseUri);
        var request = RawWebSocketClient.UpgradeRequest(server.BaseUri, user);
        using var cts = new CancellationTokenSource(s_deadline);
        var response = ReadResponseOrEndAsync(client, cts.Token);

        // Never finish: stop one byte short of the blank line that ends the headers.
        for (var i = 0; i < request.Length - 1 && !response.IsCompleted; i++)
        {
            try
            {
                await client.SendRawAsync(request.AsMemory(i, 1), cts.Token);
            }
            catch (SocketException)
            {
                break;
            }

            // The pace of the attack (a byte every 200 ms), not a wait for anything.
            await Task.WhenAny(response, Task.Delay(200, cts.Token));
        }

        return await response;
    }

    /// <summary>Waits for the server to answer (408 or any status) or to end the connection; true when it did.</summary>
    private static async Task<(bool CutOff, int? Status)> ReadResponseOrEndAsync(RawWebSocketClient client, CancellationToken cancellationToken)
    {
        try
        {
            var status = await client.ReadHandshakeResponseAsync(cancellationToken);
            return (status != 101, status);
        }
        catch (Exception ex) when (ex is EndOfStreamException or SocketException)
        {
            return (true, null);
        }
        catch (OperationCanceledException)
        {
            return (false, null);
        }
    }
}

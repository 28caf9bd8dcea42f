// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;
using System.Net.Sockets;
using Xunit.Abstractions;
using WebSocketPool.IntegrationTests.Infrastructure;

namespace WebSocketPool.IntegrationTests.Reliability;

/// <summary>
/// A server configured with a global cap above what its process may open (<c>MaxConnections=5000</c> under
/// <c>prlimit --nofile=1024</c>). A .NET process that runs out of descriptors dies ("Out of memory."), so the pool
/// lowers its cap to what the process can hold: the flood gets 503 beyond that, the server does not crash, and once
/// the connections go it serves again. The server is a child process, never the test host.
/// </summary>
public sealed class DescriptorExhaustionTests(ITestOutputHelper output)
{
    private const int OpenFilesLimit = 1024;

    [Fact]
    public async Task Connect_BeyondTheProcessDescriptorLimit_ServerSurvivesAndServesAgain()
    {
        await using var server = await ServerProcess.StartAsync(SampleServers.EchoServer(
            OpenFilesLimit,
            "--WebSocketPool:MaxConnections=5000",
            "--WebSocketPool:MaxConnectionsPerUser=5000"));
        var attempts = OpenFilesLimit + 200;
        var initial = await server.TryGetStatsAsync(TimeSpan.FromSeconds(10));
        var cap = initial!.Value.GetProperty("maxConnections").GetInt32();
        output.WriteLine($"effective cap {cap} under an open-files limit of {OpenFilesLimit}");
        cap.Should().BeLessThan(OpenFilesLimit, "the pool keeps its cap below the process's open-files limit");
        server.Output.Should().Contain("caps connections at", "the lowered cap is logged as a warning");

        for (var round = 0; round < (ReliabilitySettings.Long ? 5 : 1); round++)
        {
            var open = new ConcurrentBag<RawWebSocketClient>();
            var outcomes = new ConcurrentDictionary<string, int>();
            await OverloadTests.ForEachBoundedAsync(attempts, 32, async i =>
            {
                RawWebSocketClient? client = null;
                string outcome;
                try
                {
                    using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(3));
                    client = await RawWebSocketClient.OpenAsync(server.BaseUri, bufferSize: 1024, cancellationToken: cts.Token);
                    var status = await client.HandshakeAsync(server.BaseUri, "fd" + (i % 50), cts.Token);
                    outcome = status.ToString(System.Globalization.CultureInfo.InvariantCulture);
                }
                catch (Exception ex) when (ex is SocketException or OperationCanceledException or EndOfStreamException or IOException)
                {
                    outcome = ex.GetType().Name;
                }

                outcomes.AddOrUpdate(outcome, 1, static (_, n) => n + 1);
                if (outcome == "101")
                {
                    open.Add(client!);
                }
                else if (client is not null)
                {
                    await client.DisposeAsync();
                }
            });

            output.WriteLine($"round {round}: {string.Join(", ", outcomes.OrderBy(o => o.Key).Select(o => $"{o.Key} x{o.Value}"))}");
            server.HasExited.Should().BeFalse("running out of descriptors must not crash the server:{0}{1}", Environment.NewLine, server.Output);
            open.Count.Should().Be(cap, "the server takes connections up to its cap");
            outcomes.GetValueOrDefault("503").Should().Be(attempts - cap, "every connection beyond the cap is refused with 503, none is dropped");

            foreach (var client in open)
            {
                client.Reset();
            }

            // Serves again once the connections are gone: /stats answers and shows every lease released.
            var released = await server.WaitForNoConnectionsAsync(TimeSpan.FromSeconds(60));

            released.Should().BeTrue("after the flood the server answers /stats with no leases left:{0}{1}", Environment.NewLine, server.Output);
            await using (var client = await RawWebSocketClient.ConnectAsync(server.BaseUri, "after"))
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
                await client.SendTextAsync("back", cts.Token);
                (await client.ReceiveDataFrameAsync(cts.Token))!.Value.Text.Should().Be("back");
                await client.SendCloseAsync(1000, cancellationToken: cts.Token);
                (await client.ReadUntilEndAsync(TimeSpan.FromSeconds(20))).CloseCode.Should().Be(1000);
            }

            server.HasExited.Should().BeFalse();
        }

        output.WriteLine("server output tail:" + Environment.NewLine + server.Output);
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Xunit.Abstractions;
using WebSocketPool.IntegrationTests.Infrastructure;

namespace WebSocketPool.IntegrationTests.Reliability;

/// <summary>
/// TCP connections that never send a byte hold a descriptor each, and the pool's cap counts only WebSockets. With
/// Kestrel's connection count unlimited, ~1,200 idle connections on top of a few hundred WebSockets under a 1,024-file
/// limit ran the EchoServer out of descriptors and killed it ("Out of memory."). The pool sets Kestrel's connection
/// limits from the same descriptor budget, so Kestrel closes the excess at once, the WebSockets already open carry on,
/// and once the flood is gone the server serves again. The server is a child process under <c>prlimit</c>.
/// </summary>
public sealed class IdleConnectionFloodTests(ITestOutputHelper output)
{
    private const int OpenFilesLimit = 1024;
    private const int WebSockets = 300;
    private const int IdleConnections = 1300;
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Connect_IdleTcpFloodOnTopOfWebSockets_ExcessClosedServerSurvivesAndServesAgain()
    {
        await using var server = await ServerProcess.StartAsync(SampleServers.EchoServer(
            OpenFilesLimit,
            "--Logging:LogLevel:WebSocketPool.Internal.KestrelConnectionLimits=Information"));

        // Logged as Kestrel starts (Kestrel's own warning for each refused connection soon buries it).
        var limits = KestrelLimitsFromLog(server.Output);
        output.WriteLine($"Kestrel limits chosen: {limits.Connections} connections, {limits.Upgraded} upgraded");
        var sockets = new ConcurrentBag<RawWebSocketClient>();
        var idle = new ConcurrentBag<Socket>();
        try
        {
            // A few hundred WebSockets (ten users of ten connections each per name, the default per-user limit).
            await OverloadTests.ForEachBoundedAsync(WebSockets, 16, async i =>
            {
                using var cts = new CancellationTokenSource(s_deadline);
                sockets.Add(await RawWebSocketClient.ConnectAsync(server.BaseUri, "flood" + (i / 10), bufferSize: 1024, cancellationToken: cts.Token));
            });
            sockets.Should().HaveCount(WebSockets);

            // Then the flood: connections that say nothing at all. Each read ends when Kestrel closes that connection.
            var closedByServer = 0;
            var reads = new ConcurrentBag<Task>();
            await OverloadTests.ForEachBoundedAsync(IdleConnections, 32, async _ =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    using var cts = new CancellationTokenSource(s_deadline);
                    await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, server.BaseUri.Port), cts.Token);
                }
                catch (SocketException)
                {
                    // Refused at connect (a full accept queue) counts as refused too.
                    socket.Dispose();
                    Interlocked.Increment(ref closedByServer);
                    return;
                }

                idle.Add(socket);
                reads.Add(WaitForServerCloseAsync(socket, () => Interlocked.Increment(ref closedByServer)));
            });

            await Conditions.WaitAsync(async () => server.HasExited || await HealthAsync(server) is not null || Volatile.Read(ref closedByServer) > 0,
                s_deadline, "the server either answers, closes connections or dies");
            server.HasExited.Should().BeFalse("idle connections must not exhaust the server's descriptors:{0}{1}", Environment.NewLine, server.Output);
            limits.Connections.Should().BeLessThan(OpenFilesLimit - WebSockets, "the HTTP connection limit leaves room for the WebSockets and the process's own files");

            // Kestrel closes every connection beyond its limit; at most the limit stays open.
            var excess = IdleConnections - (int)limits.Connections;
            await Conditions.WaitAsync(() => Volatile.Read(ref closedByServer) >= excess, s_deadline,
                $"Kestrel closes the {excess} idle connections beyond its limit of {limits.Connections} (closed so far: {Volatile.Read(ref closedByServer)})");
            output.WriteLine($"idle connections closed by the server: {Volatile.Read(ref closedByServer)} of {IdleConnections}");
            server.HasExited.Should().BeFalse("the server survives the flood:{0}{1}", Environment.NewLine, server.Output);

            // The WebSockets opened before the flood still work.
            foreach (var client in sockets.Take(10))
            {
                using var cts = new CancellationTokenSource(s_deadline);
                await client.SendTextAsync("still here", cts.Token);
                (await client.ReceiveDataFrameAsync(cts.Token))!.Value.Text.Should().Be("still here");
            }

            // Once the flood is gone the server answers HTTP and WebSockets again.
            foreach (var socket in idle)
            {
                socket.Dispose();
            }

            await Conditions.WaitAsync(async () => await HealthAsync(server) is "Healthy" or "Degraded", s_deadline, "/health answers once the flood has gone");
            await using (var after = await RawWebSocketClient.ConnectAsync(server.BaseUri, "after"))
            {
                using var cts = new CancellationTokenSource(s_deadline);
                await after.SendTextAsync("back", cts.Token);
                (await after.ReceiveDataFrameAsync(cts.Token))!.Value.Text.Should().Be("back");
                await after.SendCloseAsync(1000, cancellationToken: cts.Token);
                (await after.ReadUntilEndAsync(s_deadline)).CloseCode.Should().Be(1000);
            }

            var stats = await server.TryGetStatsAsync(TimeSpan.FromSeconds(10));
            stats!.Value.GetProperty("activeConnections").GetInt32().Should().Be(WebSockets, "the flood cost no WebSocket its place");
            server.HasExited.Should().BeFalse();
        }
        finally
        {
            foreach (var socket in idle)
            {
                socket.Dispose();
            }

            foreach (var client in sockets)
            {
                client.Reset();
            }
        }
    }

    private static async Task WaitForServerCloseAsync(Socket socket, Action closed)
    {
        var buffer = new byte[1];
        try
        {
            if (await socket.ReceiveAsync(buffer, SocketFlags.None) == 0)
            {
                closed();
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            closed();
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Closed by the test itself.
        }
    }

    private static async Task<string?> HealthAsync(ServerProcess server)
    {
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
            using var response = await http.GetAsync(new Uri(server.BaseUri, "/health"));
            return response.StatusCode == HttpStatusCode.OK ? await response.Content.ReadAsStringAsync() : null;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return null;
        }
    }

    /// <summary>The limits the pool chose, read from its Information log line (event 41).</summary>
    private static (long Connections, long Upgraded) KestrelLimitsFromLog(string log)
    {
        var match = System.Text.RegularExpressions.Regex.Match(log, @"MaxConcurrentConnections (\d+) .*MaxConcurrentUpgradedConnections (\d+)");
        match.Success.Should().BeTrue("the pool logs the Kestrel limits it chose:{0}{1}", Environment.NewLine, log);
        return (long.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture),
            long.Parse(match.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
    }
}

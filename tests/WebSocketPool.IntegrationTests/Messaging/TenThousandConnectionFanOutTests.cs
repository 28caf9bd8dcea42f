// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Xunit.Abstractions;
using WebSocketPool.IntegrationTests.Infrastructure;

namespace WebSocketPool.IntegrationTests.Messaging;

/// <summary>
/// Fan-out at real size: 10,000 connections on one server, and every broadcast and group send reaches each of them
/// exactly once and in order.
/// <para>
/// Processes: a process here may open at most 20,000 files, so no process holds more than ~10,000 sockets. The server
/// is the EchoServer sample in a child process (<see cref="ServerProcess"/>; 10,000 server sockets, with
/// <c>MaxConnections=10500</c> and the default <c>MaxConnectionsPerUser=10</c>); the clients are two child processes of
/// tests/WebSocketPool.FanOutClient with 5,000 connections each (<see cref="FanOutClientProcess"/>; users <c>a0</c>…
/// <c>a499</c> and <c>b0</c>…<c>b499</c>, ten connections each). The test host holds no WebSocket at all, only the
/// HTTP calls that trigger the sends. All traffic is on 127.0.0.1.
/// </para>
/// <para>
/// How sends are triggered (the decision): EchoServer got two demo-only routes, loopback-only like its <c>/stats</c>,
/// <c>POST /broadcast?text=…</c> (<see cref="IWebSocketSender.SendToAllAsync"/>) and <c>POST /group/{name}/send?text=…</c>
/// (<see cref="IWebSocketSender.SendToGroupAsync"/>), and joins a connection to the group named by <c>/ws?group=NAME</c>
/// in its connect callback. That keeps the real sample, its real options binding and its real process under test,
/// rather than a test host of its own, and leaves EchoServer's contract (<c>/ws?user=</c>, <c>/stats</c>,
/// <c>/health</c>) as it was. Each route answers with the number of connections the message was queued for.
/// </para>
/// <para>
/// Messages: the texts "0".."39", sent one after the other, broadcasts and group sends alternating, each route call
/// returning only once its message is queued for every recipient; so every connection must see exactly "0".."39".
/// Each client first sends "ready" on every connection and waits for the echo: callbacks of one connection never
/// overlap, so the echo proves the group join is done. 40 messages stay well below the default
/// <c>SendQueueCapacity</c> of 256 even if a client fell behind, so the slow-consumer policy cannot hide a loss.
/// Duplicates at the end are caught by the closing handshake: each client closes with 1000 and counts any data frame
/// that arrives after "39" and before the server's close frame (queued messages are written before the close).
/// </para>
/// </summary>
public sealed class TenThousandConnectionFanOutTests(ITestOutputHelper output)
{
    private const int ClientProcesses = 2;
    private const int ConnectionsPerProcess = 5_000;
    private const int Total = ClientProcesses * ConnectionsPerProcess;
    private const int Rounds = 20;
    private const int Messages = 2 * Rounds;
    private const string Group = "everyone";

    private static readonly TimeSpan s_stepDeadline = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task SendToAllAndToGroup_TenThousandConnectionsOverThreeProcesses_EachConnectionGetsEveryMessageOnceInOrder()
    {
        // Arrange
        var watch = Stopwatch.StartNew();
        await using var server = await ServerProcess.StartAsync(SampleServers.EchoServer(
            "--WebSocketPool:MaxConnections=10500",
            "--WebSocketPool:MaxConnectionsPerUser=10"));
        var clients = new List<FanOutClientProcess>();
        await using var stopClients = new AsyncDisposables(clients);
        for (var i = 0; i < ClientProcesses; i++)
        {
            clients.Add(FanOutClientProcess.Start(
                "--url", server.BaseUri.ToString(),
                "--count", ConnectionsPerProcess.ToString(CultureInfo.InvariantCulture),
                "--messages", Messages.ToString(CultureInfo.InvariantCulture),
                "--prefix", ((char)('a' + i)).ToString(),
                "--per-user", "10",
                "--group", Group,
                "--wait", "90",
                "--lifetime", "240"));
        }

        var ready = await Task.WhenAll(clients.Select(c => c.ReadReportAsync("ready", s_stepDeadline)));
        ready.Should().AllSatisfy(r => r["opened"].Should().Be(ConnectionsPerProcess.ToString(CultureInfo.InvariantCulture), "every connection opens (first error: {0})", r["firstError"]));
        var stats = await server.TryGetStatsAsync(TimeSpan.FromSeconds(10));
        stats!.Value.GetProperty("activeConnections").GetInt32().Should().Be(Total);
        var connected = watch.Elapsed;
        var rssConnected = ResidentKilobytes(server.Id);
        output.WriteLine($"{Total} connections open and echoed in {connected.TotalSeconds:F1} s; server RSS {rssConnected / 1024} MB");

        // Act
        var queued = new List<(string Route, int Queued)>(Messages);
        var sending = Stopwatch.StartNew();
        using (var http = new HttpClient { BaseAddress = server.BaseUri, Timeout = TimeSpan.FromSeconds(30) })
        {
            for (var round = 0; round < Rounds; round++)
            {
                queued.Add(("broadcast", await PostAsync(http, $"/broadcast?text={2 * round}")));
                queued.Add(("group", await PostAsync(http, $"/group/{Group}/send?text={(2 * round) + 1}")));
            }
        }

        var queuedIn = sending.Elapsed;
        var delivered = await Task.WhenAll(clients.Select(c => c.ReadReportAsync("delivered", s_stepDeadline)));
        var deliveredIn = sending.Elapsed;
        var rssDelivered = ResidentKilobytes(server.Id);
        output.WriteLine($"{queued.Count} sends x {Total} connections queued in {queuedIn.TotalSeconds:F2} s, delivered in {deliveredIn.TotalSeconds:F2} s; server RSS {rssDelivered / 1024} MB (peak {PeakKilobytes(server.Id) / 1024} MB)");

        var closing = Stopwatch.StartNew();
        foreach (var client in clients)
        {
            await client.SendLineAsync("close");
        }

        var closed = await Task.WhenAll(clients.Select(c => c.ReadReportAsync("closed", s_stepDeadline)));
        var released = await server.WaitForNoConnectionsAsync(TimeSpan.FromSeconds(60));
        output.WriteLine($"closed and released in {closing.Elapsed.TotalSeconds:F1} s; whole test {watch.Elapsed.TotalSeconds:F1} s");

        // Assert
        queued.Should().OnlyContain(q => q.Queued == Total, "each broadcast and group send is queued for all {0} connections", Total);
        delivered.Should().AllSatisfy(d =>
        {
            d["complete"].Should().Be(ConnectionsPerProcess.ToString(CultureInfo.InvariantCulture), "every connection receives \"0\"..\"{0}\" (first problem: {1})", Messages - 1, d["firstProblem"]);
            d["outOfOrder"].Should().Be("0", "no message is lost, repeated or reordered (first problem: {0})", d["firstProblem"]);
        });
        closed.Should().AllSatisfy(c =>
        {
            c["extra"].Should().Be("0", "no message arrives twice (first problem: {0})", c["firstProblem"]);
            c["normal"].Should().Be(ConnectionsPerProcess.ToString(CultureInfo.InvariantCulture), "every connection closes with 1000 (first problem: {0})", c["firstProblem"]);
            c["errors"].Should().Be("0");
        });
        released.Should().BeTrue("every lease is released once the clients have closed:{0}{1}", Environment.NewLine, server.Output);
        server.HasExited.Should().BeFalse();
    }

    private static async Task<int> PostAsync(HttpClient http, string path)
    {
        using var response = await http.PostAsync(new Uri(path, UriKind.Relative), content: null);
        response.EnsureSuccessStatusCode();
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return body.GetProperty("queued").GetInt32();
    }

    /// <summary>The server's resident memory from /proc (Linux), for the test log only; 0 elsewhere.</summary>
    private static long ResidentKilobytes(int pid) => ProcStatusKilobytes(pid, "VmRSS:");

    private static long PeakKilobytes(int pid) => ProcStatusKilobytes(pid, "VmHWM:");

    private static long ProcStatusKilobytes(int pid, string field)
    {
        var path = $"/proc/{pid}/status";
        var line = File.Exists(path) ? File.ReadLines(path).FirstOrDefault(l => l.StartsWith(field, StringComparison.Ordinal)) : null;
        return line is null ? 0 : long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
    }

    /// <summary>Kills the client processes that are still running when the test ends, however it ends.</summary>
    private sealed class AsyncDisposables(List<FanOutClientProcess> clients) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }
}

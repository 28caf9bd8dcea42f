// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using WebSocketPool.IntegrationTests.Reliability;

namespace WebSocketPool.Soak;

/// <summary>
/// Drives a running EchoServer for a fixed time with a random mix of operations across many users — connects,
/// echoed messages (whole and fragmented), graceful closes, TCP resets, bad frames, and client processes killed while
/// holding connections — bounded by <see cref="SoakOptions.MaxConnections"/> open at once. Then it closes everything,
/// waits for the server's leases to drain, and reports. Exit code: 0 when no lease is left and every echo matched,
/// 1 when leases remain or an echo was wrong, 2 when the server cannot be reached.
/// </summary>
internal sealed class SoakRunner(SoakOptions options)
{
    private static readonly TimeSpan s_operationTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan s_drainDeadline = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<string, long> _operations = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _errors = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<Connection> _idle = new();
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(5) };
    private readonly Stopwatch _clock = new();
    private int _open;
    private int _killing;
    private long _lastKillMs = -10_000;
    private long _echoMismatches;

    public async Task<int> RunAsync()
    {
        var before = await GetStatsAsync();
        if (before is null)
        {
            Console.Error.WriteLine($"The server at {options.Url} does not answer /stats.");
            return 2;
        }

        var memoryBefore = ReadServerMemory();
        Console.WriteLine($"soak: {options.Duration.TotalSeconds:F0} s against {options.Url}, {options.Users} users, up to {options.MaxConnections} connections, {options.Workers} workers, seed {options.Seed}");
        _clock.Start();
        var workers = Enumerable.Range(0, options.Workers)
            .Select(w => Task.Run(() => WorkAsync(new Random(options.Seed + w))))
            .ToArray();
        await Task.WhenAll(workers);
        var drivenFor = _clock.Elapsed;

        // Close what is still open: half with a closing handshake, half by just dropping the socket.
        var closing = new List<Task>();
        var n = 0;
        while (_idle.TryDequeue(out var connection))
        {
            closing.Add(n++ % 2 == 0 ? CloseGracefullyAsync(connection) : DropAsync(connection));
        }

        await Task.WhenAll(closing);

        var leases = await WaitForLeasesAsync();
        var after = await GetStatsAsync();
        var memoryAfter = ReadServerMemory();

        PrintSummary(drivenFor, before.Value, after, leases, memoryBefore, memoryAfter);
        if (leases is null)
        {
            return 2;
        }

        return leases == 0 && Interlocked.Read(ref _echoMismatches) == 0 ? 0 : 1;
    }

    private async Task WorkAsync(Random random)
    {
        while (_clock.Elapsed < options.Duration)
        {
            var roll = random.NextDouble();
            try
            {
                if (roll < 0.30)
                {
                    await ConnectAsync(random);
                }
                else if (roll < 0.62)
                {
                    await MessageAsync(random);
                }
                else if (roll < 0.74)
                {
                    if (_idle.TryDequeue(out var connection))
                    {
                        await CloseGracefullyAsync(connection);
                    }
                }
                else if (roll < 0.84)
                {
                    if (_idle.TryDequeue(out var connection))
                    {
                        Count(_operations, "reset");
                        connection.Client.Reset();
                        Interlocked.Decrement(ref _open);
                    }
                }
                else if (roll < 0.97)
                {
                    await BadFrameAsync(random);
                }
                else
                {
                    await KillChildAsync(random);
                }
            }
#pragma warning disable CA1031 // Every failure is counted by kind; the run goes on.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Count(_errors, Classify(ex));
            }
        }
    }

    private async Task ConnectAsync(Random random)
    {
        if (Interlocked.Increment(ref _open) > options.MaxConnections)
        {
            Interlocked.Decrement(ref _open);
            await MessageAsync(random);
            return;
        }

        var user = "soak" + random.Next(options.Users).ToString(CultureInfo.InvariantCulture);
        RawWebSocketClient? client = null;
        try
        {
            using var cts = new CancellationTokenSource(s_operationTimeout);
            client = await RawWebSocketClient.OpenAsync(options.Url, bufferSize: 8 * 1024, cancellationToken: cts.Token);
            var status = await client.HandshakeAsync(options.Url, user, cts.Token);
            if (status == 101)
            {
                Count(_operations, "connect");
                _idle.Enqueue(new Connection(client, user));
                client = null;
                return;
            }

            Count(_operations, "refused_" + status.ToString(CultureInfo.InvariantCulture));
        }
        finally
        {
            if (client is not null)
            {
                await client.DisposeAsync();
                Interlocked.Decrement(ref _open);
            }
        }
    }

    private async Task MessageAsync(Random random)
    {
        if (!_idle.TryDequeue(out var connection))
        {
            return;
        }

        var keep = false;
        try
        {
            var text = RandomText(random, random.Next(1, 2048));
            var bytes = Encoding.UTF8.GetBytes(text);
            using var cts = new CancellationTokenSource(s_operationTimeout);
            if (random.Next(4) == 0 && bytes.Length > 1)
            {
                // Fragmented: the server must reassemble it into one message.
                var split = random.Next(1, bytes.Length);
                await connection.Client.SendFrameAsync(RawWebSocketClient.Text, bytes.AsMemory(0, split), fin: false, cancellationToken: cts.Token);
                await connection.Client.SendFrameAsync(RawWebSocketClient.Continuation, bytes.AsMemory(split), cancellationToken: cts.Token);
                Count(_operations, "message_fragmented");
            }
            else
            {
                await connection.Client.SendFrameAsync(RawWebSocketClient.Text, bytes, cancellationToken: cts.Token);
                Count(_operations, "message");
            }

            var echo = await connection.Client.ReceiveDataFrameAsync(cts.Token);
            if (echo is { Opcode: RawWebSocketClient.Text, Fin: true } frame && frame.Text == text)
            {
                keep = true;
            }
            else
            {
                Interlocked.Increment(ref _echoMismatches);
                Count(_errors, echo is null ? "echo_connection_ended" : "echo_mismatch");
            }
        }
        finally
        {
            if (keep)
            {
                _idle.Enqueue(connection);
            }
            else
            {
                await connection.Client.DisposeAsync();
                Interlocked.Decrement(ref _open);
            }
        }
    }

    private async Task CloseGracefullyAsync(Connection connection)
    {
        try
        {
            Count(_operations, "close");
            await connection.Client.SendCloseAsync(1000);
            var end = await connection.Client.ReadUntilEndAsync(s_operationTimeout);
            if (end.CloseCode != 1000)
            {
                Count(_errors, "close_answered_" + (end.CloseCode?.ToString(CultureInfo.InvariantCulture) ?? (end.Reset ? "reset" : "eof")));
            }
        }
#pragma warning disable CA1031 // Counted; the connection is gone either way.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Count(_errors, Classify(ex));
        }
        finally
        {
            await connection.Client.DisposeAsync();
            Interlocked.Decrement(ref _open);
        }
    }

    private async Task DropAsync(Connection connection)
    {
        Count(_operations, "drop");
        await connection.Client.DisposeAsync();
        Interlocked.Decrement(ref _open);
    }

    private async Task BadFrameAsync(Random random)
    {
        if (Interlocked.Increment(ref _open) > options.MaxConnections)
        {
            Interlocked.Decrement(ref _open);
            return;
        }

        try
        {
            var user = "mallory" + random.Next(options.Users).ToString(CultureInfo.InvariantCulture);
            await using var client = await RawWebSocketClient.OpenAsync(options.Url, bufferSize: 8 * 1024);
            using var cts = new CancellationTokenSource(s_operationTimeout);
            var status = await client.HandshakeAsync(options.Url, user, cts.Token);
            if (status != 101)
            {
                Count(_operations, "refused_" + status.ToString(CultureInfo.InvariantCulture));
                return;
            }

            var (kind, expected) = await SendBadFrameAsync(client, random, cts.Token);
            Count(_operations, "bad_frame_" + kind);
            var end = await client.ReadUntilEndAsync(s_operationTimeout);
            if (end.CloseCode is { } code && code != expected)
            {
                Count(_errors, $"bad_frame_{kind}_answered_{code}");
            }
        }
        finally
        {
            Interlocked.Decrement(ref _open);
        }
    }

    private static async Task<(string Kind, int ExpectedCode)> SendBadFrameAsync(RawWebSocketClient client, Random random, CancellationToken cancellationToken)
    {
        var hello = "hello"u8.ToArray();
        try
        {
            switch (random.Next(6))
            {
                case 0:
                    await client.SendFrameAsync(0x3, hello, cancellationToken: cancellationToken);
                    return ("reserved_opcode", 1002);
                case 1:
                    await client.SendFrameAsync(RawWebSocketClient.Text, hello, rsv: 0b100, cancellationToken: cancellationToken);
                    return ("rsv1", 1002);
                case 2:
                    await client.SendFrameAsync(RawWebSocketClient.Text, new byte[] { 0xC3, 0x28 }, cancellationToken: cancellationToken);
                    return ("invalid_utf8", 1007);
                case 3:
                    await client.SendFrameAsync(RawWebSocketClient.Ping, new byte[126], cancellationToken: cancellationToken);
                    return ("oversized_ping", 1002);
                case 4:
                    await client.SendCloseAsync(1005, cancellationToken: cancellationToken);
                    return ("invalid_close_code", 1002);
                default:
                    await client.SendFrameAsync(RawWebSocketClient.Continuation, hello, cancellationToken: cancellationToken);
                    return ("orphan_continuation", 1002);
            }
        }
        catch (SocketException)
        {
            return ("dropped_while_sending", 1002);
        }
    }

    /// <summary>Starts a child process holding a few connections and kills it once they are open.</summary>
    private async Task KillChildAsync(Random random)
    {
        var count = random.Next(1, 6);
        var sinceLast = _clock.ElapsedMilliseconds - Interlocked.Read(ref _lastKillMs);
        if (sinceLast < 2000 || Interlocked.CompareExchange(ref _killing, 1, 0) != 0)
        {
            return;
        }

        try
        {
            if (Interlocked.Add(ref _open, count) > options.MaxConnections)
            {
                return;
            }

            Interlocked.Exchange(ref _lastKillMs, _clock.ElapsedMilliseconds);
            var info = new ProcessStartInfo("dotnet")
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            };
            foreach (var argument in new[] { typeof(SoakRunner).Assembly.Location, "hold", "--url", options.Url.ToString(), "--count", count.ToString(CultureInfo.InvariantCulture), "--user", "victim" + random.Next(options.Users).ToString(CultureInfo.InvariantCulture) })
            {
                info.ArgumentList.Add(argument);
            }

            using var child = Process.Start(info)!;
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var line = await child.StandardOutput.ReadLineAsync(cts.Token);
            child.Kill();
            await child.WaitForExitAsync(cts.Token);
            Count(_operations, line == "ready" ? "kill_child_holding_connections" : "kill_child_refused");
            if (line == "ready")
            {
                _operations.AddOrUpdate("killed_connections", count, (_, v) => v + count);
            }
        }
        finally
        {
            Interlocked.Add(ref _open, -count);
            Volatile.Write(ref _killing, 0);
        }
    }

    private async Task<int?> WaitForLeasesAsync()
    {
        var started = Stopwatch.StartNew();
        int? leases = null;
        while (started.Elapsed < s_drainDeadline)
        {
            var stats = await GetStatsAsync();
            leases = stats?.GetProperty("activeConnections").GetInt32();
            if (leases == 0)
            {
                return 0;
            }

            await Task.Delay(100);
        }

        return leases;
    }

    private async Task<JsonElement?> GetStatsAsync()
    {
        try
        {
            return await _http.GetFromJsonAsync<JsonElement>(new Uri(options.Url, "/stats"));
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException)
        {
            return null;
        }
    }

    private long? ReadServerMemory()
    {
        if (options.ServerPid is not { } pid)
        {
            return null;
        }

        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (IOException)
        {
        }

        return null;
    }

    private void PrintSummary(TimeSpan drivenFor, JsonElement before, JsonElement? after, int? leases, long? memoryBefore, long? memoryAfter)
    {
        var summary = new StringBuilder();
        summary.AppendLine(CultureInfo.InvariantCulture, $"driven for {drivenFor.TotalSeconds:F1} s");
        summary.AppendLine("operations:");
        foreach (var (kind, count) in _operations.OrderBy(o => o.Key, StringComparer.Ordinal))
        {
            summary.AppendLine(CultureInfo.InvariantCulture, $"  {kind,-36} {count,10}");
        }

        summary.AppendLine(CultureInfo.InvariantCulture, $"  {"total",-36} {_operations.Where(o => o.Key != "killed_connections").Sum(o => o.Value),10}");
        summary.AppendLine("errors by kind:");
        if (_errors.IsEmpty)
        {
            summary.AppendLine("  none");
        }

        foreach (var (kind, count) in _errors.OrderBy(o => o.Key, StringComparer.Ordinal))
        {
            summary.AppendLine(CultureInfo.InvariantCulture, $"  {kind,-36} {count,10}");
        }

        summary.AppendLine(CultureInfo.InvariantCulture, $"leases at start: {before.GetProperty("activeConnections").GetInt32()}");
        summary.AppendLine(CultureInfo.InvariantCulture, $"leases at end:   {(leases is { } l ? l.ToString(CultureInfo.InvariantCulture) : "unknown (the server stopped answering /stats)")}");
        if (after is { } stats)
        {
            summary.AppendLine(CultureInfo.InvariantCulture, $"server at end:   users {stats.GetProperty("userCount").GetInt32()}, pooled managers {stats.GetProperty("pooledManagers").GetInt32()}, warm managers {(stats.TryGetProperty("warmManagers", out var warm) ? warm.GetInt32() : 0)}, rejected {stats.GetProperty("rejected")}");
        }

        summary.AppendLine(CultureInfo.InvariantCulture, $"server memory (RSS): start {Megabytes(memoryBefore)}, end {Megabytes(memoryAfter)}");
        summary.AppendLine(CultureInfo.InvariantCulture, $"echo mismatches: {Interlocked.Read(ref _echoMismatches)}");
        summary.AppendLine(leases == 0 && Interlocked.Read(ref _echoMismatches) == 0 ? "result: PASS" : "result: FAIL");
        Console.Write(summary.ToString());
    }

    private static string Megabytes(long? bytes) =>
        bytes is { } b ? (b / 1024.0 / 1024.0).ToString("F1", CultureInfo.InvariantCulture) + " MB" : "n/a (pass --pid)";

    private static string RandomText(Random random, int length)
    {
        const string Alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 äöü€";
        var chars = new char[length];
        for (var i = 0; i < length; i++)
        {
            chars[i] = Alphabet[random.Next(Alphabet.Length)];
        }

        return new string(chars);
    }

    private static string Classify(Exception exception) => exception switch
    {
        SocketException socket => "socket_" + socket.SocketErrorCode.ToString().ToLowerInvariant(),
        TimeoutException or OperationCanceledException => "timeout",
        EndOfStreamException => "closed_during_handshake",
        _ => exception.GetType().Name,
    };

    private static void Count(ConcurrentDictionary<string, long> counters, string kind) =>
        counters.AddOrUpdate(kind, 1, static (_, v) => v + 1);

    private sealed record Connection(RawWebSocketClient Client, string User);
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using WebSocketPool.TestSupport;

namespace WebSocketPool.Soak;

/// <summary>
/// Drives a running EchoServer for a fixed time with a random mix of operations across many users — connects,
/// echoed messages (whole and fragmented), graceful closes, TCP resets, bad frames, and client processes killed while
/// holding connections — bounded by <see cref="SoakOptions.MaxConnections"/> open at once. Then it closes everything,
/// waits for the server's leases to drain, and reports.
/// </summary>
/// <remarks>
/// <para>What the soak expects of each operation; anything else fails the run (EchoServer: MaxConnectionsPerUser 10,
/// the policy named by <c>--overflow-policy</c>, no connect rate limit, MaxMessageBytes 64 KB):</para>
/// <list type="bullet">
/// <item><b>connect</b> (upgrade as soakN): 101. Or an expected refusal: 429 <c>user_limit</c> (a user may be at its
/// limit; the soak does not track the server's count, since a slot it closed or reset may not be released yet),
/// 429 <c>rate_limited</c> or 503 <c>global_limit</c>, each with a problem+json body whose <c>status</c>,
/// <c>type</c> and <c>reason</c> agree (<see cref="HandshakeRefusal"/>). Any other status or body (500, 401, 403,
/// 503 <c>draining</c> — the server does not stop during a soak), a reset or end of the connection before the answer,
/// or no answer within the deadline is a <i>failed handshake</i>.</item>
/// <item><b>message</b> (text, whole or fragmented): the same text echoed back in one final text frame. A close frame
/// instead is an <i>unexpected close code</i>, except 4001 under EvictOldest (a newer connection of the same user
/// evicted this idle one). The connection ending without a close frame (or a socket error) is an echo failure under
/// Reject; under EvictOldest it is tolerated and counted, because an evicted peer that does not answer 4001 within
/// the server's SendTimeout is aborted.</item>
/// <item><b>close</b> (the client sends 1000): the server answers 1000 (under EvictOldest also 4001: the eviction
/// crossed our close) and ends the connection. Any other code, or no close frame under Reject, is unexpected.</item>
/// <item><b>reset</b> / <b>drop</b>: nothing is read; only the lease check at the end covers them.</item>
/// <item><b>bad frame</b>: 1002 for a protocol error, 1007 for invalid UTF-8. Ending the connection without a close
/// frame is allowed (RFC 6455 lets a server fail a connection by dropping it); any other code is unexpected.</item>
/// <item><b>killed child</b> holding 1–5 connections: it reports "ready", or an expected refusal as for connect.</item>
/// <item>1011 (the server's handler failed) and 1001 (draining) are never expected for any operation.</item>
/// <item>An exception a client loop did not expect for what it was doing is an <i>unexpected exception</i>: counted
/// by type, the first five printed with their stack (a server that never ends a connection shows up here as a
/// TimeoutException).</item>
/// </list>
/// <para>No check depends on speed: each wait has a generous deadline (30 s per operation, 30 s for the leases to
/// drain), and nothing measures how fast the server answers.</para>
/// <para>Exit code: 0 when no lease is left and nothing above went wrong; 1 when a check failed (the last line,
/// <c>result: FAIL — …</c>, names each failed check with its count); 2 when the server cannot be reached.</para>
/// </remarks>
internal sealed class SoakRunner(SoakOptions options)
{
    private const int Evicted = 4001;
    private static readonly TimeSpan s_operationTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan s_drainDeadline = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<string, long> _operations = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _errors = new(StringComparer.Ordinal);
    private readonly SoakFindings _findings = new();
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

        return Passed(leases) ? 0 : 1;
    }

    private bool Passed(int? leases) => leases == 0 && Interlocked.Read(ref _echoMismatches) == 0 && !_findings.Any;

    private async Task WorkAsync(Random random)
    {
        while (_clock.Elapsed < options.Duration)
        {
            var roll = random.NextDouble();
            var operation = roll switch
            {
                < 0.30 => "connect",
                < 0.62 => "message",
                < 0.74 => "close",
                < 0.84 => "reset",
                < 0.97 => "bad_frame",
                _ => "kill_child",
            };
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
#pragma warning disable CA1031 // Every exception that reaches here was not expected; it is counted and the run goes on.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                _findings.UnexpectedException(operation, ex);
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
            int status;
            try
            {
                using var cts = new CancellationTokenSource(s_operationTimeout);
                client = await RawWebSocketClient.OpenAsync(options.Url, bufferSize: 8 * 1024, cancellationToken: cts.Token);
                status = await client.HandshakeAsync(options.Url, user, cts.Token);
            }
            catch (Exception ex) when (IsHandshakeFailure(ex))
            {
                _findings.FailedHandshake("connect", ex);
                return;
            }

            if (status == 101)
            {
                Count(_operations, "connect");
                _idle.Enqueue(new Connection(client, user));
                client = null;
                return;
            }

            await JudgeRefusalAsync("connect", client, status);
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
            else if (echo is { Opcode: RawWebSocketClient.Close } close)
            {
                var code = close.Payload.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(close.Payload) : 1005;
                if (options.EvictOldest && code == Evicted)
                {
                    Count(_operations, "evicted_4001_seen_by_message");
                    await AnswerCloseAsync(connection.Client, code, cts.Token);
                }
                else
                {
                    _findings.UnexpectedClose("message", code, options.EvictOldest ? "the echo or 4001" : "the echo");
                }
            }
            else if (echo is null && options.EvictOldest)
            {
                Count(_operations, "message_connection_ended_tolerated_under_evict_oldest");
            }
            else
            {
                Interlocked.Increment(ref _echoMismatches);
                Count(_errors, echo is null ? "echo_connection_ended" : "echo_mismatch");
            }
        }
        catch (SocketException) when (options.EvictOldest)
        {
            Count(_operations, "message_connection_ended_tolerated_under_evict_oldest");
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
            using var cts = new CancellationTokenSource(s_operationTimeout);
            await connection.Client.SendCloseAsync(1000, cancellationToken: cts.Token);
            var end = await connection.Client.ReadUntilEndAsync(s_operationTimeout);
            if (end.CloseCode == 1000)
            {
                return;
            }

            if (options.EvictOldest && end.CloseCode is Evicted or null)
            {
                Count(_operations, end.CloseCode is null ? "close_connection_ended_tolerated_under_evict_oldest" : "evicted_4001_seen_by_close");
                return;
            }

            _findings.UnexpectedClose("close", end.CloseCode, options.EvictOldest ? "1000 or 4001" : "1000");
        }
        catch (SocketException) when (options.EvictOldest)
        {
            Count(_operations, "close_connection_ended_tolerated_under_evict_oldest");
        }
#pragma warning disable CA1031 // Counted; the connection is gone either way.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            _findings.UnexpectedException("close", ex);
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

        RawWebSocketClient? client = null;
        try
        {
            var user = "mallory" + random.Next(options.Users).ToString(CultureInfo.InvariantCulture);
            using var cts = new CancellationTokenSource(s_operationTimeout);
            int status;
            try
            {
                client = await RawWebSocketClient.OpenAsync(options.Url, bufferSize: 8 * 1024, cancellationToken: cts.Token);
                status = await client.HandshakeAsync(options.Url, user, cts.Token);
            }
            catch (Exception ex) when (IsHandshakeFailure(ex))
            {
                _findings.FailedHandshake("bad_frame", ex);
                return;
            }

            if (status != 101)
            {
                await JudgeRefusalAsync("bad_frame", client, status);
                return;
            }

            var (kind, expected) = await SendBadFrameAsync(client, random, cts.Token);
            Count(_operations, "bad_frame_" + kind);
            var end = await client.ReadUntilEndAsync(s_operationTimeout);
            if (end.CloseCode is null)
            {
                Count(_operations, $"bad_frame_{kind}_dropped_without_close_frame");
            }
            else if (end.CloseCode != expected)
            {
                _findings.UnexpectedClose("bad_frame_" + kind, end.CloseCode, expected.ToString(CultureInfo.InvariantCulture));
            }
        }
        finally
        {
            if (client is not null)
            {
                await client.DisposeAsync();
            }

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
            string? line;
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
                line = await child.StandardOutput.ReadLineAsync(cts.Token);
            }
            finally
            {
                KillQuietly(child);
                using var exit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await child.WaitForExitAsync(exit.Token);
            }

            JudgeHolderLine(line, count);
        }
        finally
        {
            Interlocked.Add(ref _open, -count);
            Volatile.Write(ref _killing, 0);
        }
    }

    /// <summary>Judges the one line a holder process printed (see <see cref="ConnectionHolder.RunAsync"/>).</summary>
    private void JudgeHolderLine(string? line, int count)
    {
        const string Expected = "refused expected ";
        const string Unexpected = "refused unexpected ";
        const string Error = "error ";
        if (line == "ready")
        {
            Count(_operations, "kill_child_holding_connections");
            _operations.AddOrUpdate("killed_connections", count, (_, v) => v + count);
        }
        else if (line?.StartsWith(Expected, StringComparison.Ordinal) == true)
        {
            Count(_operations, "kill_child_refused_" + line[Expected.Length..]);
        }
        else if (line?.StartsWith(Unexpected, StringComparison.Ordinal) == true)
        {
            _findings.FailedHandshake("hold", line[Unexpected.Length..]);
        }
        else if (line?.StartsWith(Error, StringComparison.Ordinal) == true)
        {
            _findings.FailedHandshake("hold", line[Error.Length..]);
        }
        else
        {
            _findings.FailedHandshake("hold", line is null ? "the holder process ended without a word" : "the holder process said: " + line);
        }
    }

    private static void KillQuietly(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // It has already exited.
        }
    }

    private async Task JudgeRefusalAsync(string operation, RawWebSocketClient client, int status)
    {
        var refusal = await HandshakeRefusal.ReadAsync(client, status);
        if (refusal.IsExpected)
        {
            Count(_operations, "refused_" + refusal.Key);
        }
        else
        {
            _findings.FailedHandshake(operation, refusal.Description);
        }
    }

    /// <summary>Answers the server's close frame with the same code, as a well-behaved client does, if the socket still takes it.</summary>
    private static async Task AnswerCloseAsync(RawWebSocketClient client, int code, CancellationToken cancellationToken)
    {
        try
        {
            await client.SendCloseAsync(code, cancellationToken: cancellationToken);
        }
        catch (SocketException)
        {
            // The server may already have given up on the closing handshake.
        }
    }

    /// <summary>How an upgrade attempt can fail before any HTTP status is read: reset, end of the connection, no answer in time.</summary>
    private static bool IsHandshakeFailure(Exception exception) =>
        exception is SocketException or IOException or OperationCanceledException or FormatException or InvalidDataException;

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
            summary.AppendLine(CultureInfo.InvariantCulture, $"  {kind,-56} {count,10}");
        }

        summary.AppendLine(CultureInfo.InvariantCulture, $"  {"total",-56} {_operations.Where(o => o.Key != "killed_connections").Sum(o => o.Value),10}");
        summary.AppendLine("echo errors by kind:");
        if (_errors.IsEmpty)
        {
            summary.AppendLine("  none");
        }

        foreach (var (kind, count) in _errors.OrderBy(o => o.Key, StringComparer.Ordinal))
        {
            summary.AppendLine(CultureInfo.InvariantCulture, $"  {kind,-56} {count,10}");
        }

        summary.AppendLine(CultureInfo.InvariantCulture, $"leases at start: {before.GetProperty("activeConnections").GetInt32()}");
        summary.AppendLine(CultureInfo.InvariantCulture, $"leases at end:   {(leases is { } l ? l.ToString(CultureInfo.InvariantCulture) : "unknown (the server stopped answering /stats)")}");
        if (after is { } stats)
        {
            summary.AppendLine(CultureInfo.InvariantCulture, $"server at end:   users {stats.GetProperty("userCount").GetInt32()}, pooled managers {stats.GetProperty("pooledManagers").GetInt32()}, warm managers {(stats.TryGetProperty("warmManagers", out var warm) ? warm.GetInt32() : 0)}, rejected {stats.GetProperty("rejected")}");
        }

        summary.AppendLine(CultureInfo.InvariantCulture, $"server memory (RSS): start {Megabytes(memoryBefore)}, end {Megabytes(memoryAfter)}");
        var mismatches = Interlocked.Read(ref _echoMismatches);
        summary.AppendLine(CultureInfo.InvariantCulture, $"echo mismatches: {mismatches}");
        _findings.AppendTo(summary);

        // One line that says what went wrong, with counts: CI logs are read from the bottom.
        var checks = new (string Name, long Count)[]
        {
            ("leases left", leases ?? -1),
            ("echo mismatches", mismatches),
            ("unexpected close codes", _findings.UnexpectedCloseCodes),
            ("failed handshakes", _findings.FailedHandshakes),
            ("unexpected exceptions", _findings.UnexpectedExceptions),
        };
        var counts = string.Join(", ", checks.Select(c => $"{c.Name} {(c.Count < 0 ? "unknown" : c.Count.ToString(CultureInfo.InvariantCulture))}"));
        summary.AppendLine(Passed(leases)
            ? $"result: PASS ({counts})"
            : $"result: FAIL — {string.Join(", ", checks.Where(c => c.Count != 0).Select(c => c.Name))} ({counts})");
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

    private static void Count(ConcurrentDictionary<string, long> counters, string kind) =>
        counters.AddOrUpdate(kind, 1, static (_, v) => v + 1);

    private sealed record Connection(RawWebSocketClient Client, string User);
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace LoadHarness.Client;

/// <summary>
/// A fresh redis-server for one cluster run: 127.0.0.1 and a free port, no persistence, its own directory; stopped
/// with SHUTDOWN NOSAVE (or SIGKILL when it does not answer). The harness reads it through one plain RESP connection
/// of its own (no client library, so nothing else talks to Redis behind the figures), and knows exactly how many
/// commands and bytes that connection added.
/// </summary>
internal sealed class RedisServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly TcpClient _probe;
    private readonly NetworkStream _stream;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _buffered;

    private RedisServerProcess(Process process, int port, TcpClient probe)
    {
        _process = process;
        Port = port;
        _probe = probe;
        _stream = probe.GetStream();
    }

    public int Port { get; }

    public int Pid => _process.Id;

    public string Address => $"127.0.0.1:{Port}";

    public static async Task<RedisServerProcess> StartAsync(string serverPath, string directory)
    {
        if (!File.Exists(serverPath))
        {
            throw new InvalidOperationException($"{serverPath} is missing: install it with 'apt-get install -y redis-server'.");
        }

        Directory.CreateDirectory(directory);
        for (var attempt = 1; ; attempt++)
        {
            var port = FreePort();
            var info = new ProcessStartInfo(serverPath)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = directory,
            };
            foreach (var arg in new[] { "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes", "--dir", directory })
            {
                info.ArgumentList.Add(arg);
            }

            var process = Process.Start(info) ?? throw new InvalidOperationException("redis-server did not start.");
            process.OutputDataReceived += static (_, _) => { };
            process.ErrorDataReceived += static (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var started = Stopwatch.GetTimestamp();
            while (!process.HasExited && Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(15))
            {
                var probe = new TcpClient { NoDelay = true };
                try
                {
                    await probe.ConnectAsync(IPAddress.Loopback, port).ConfigureAwait(false);
                    var server = new RedisServerProcess(process, port, probe);
                    if ((await server.CommandAsync("PING").ConfigureAwait(false)).Text == "PONG")
                    {
                        return server;
                    }
                }
                catch (SocketException)
                {
                    probe.Dispose();
                }

                await Task.Delay(20).ConfigureAwait(false);
            }

            // Another process may have taken the port between the check and the start: try another one.
            if (!process.HasExited)
            {
                process.Kill();
            }

            process.Dispose();
            if (attempt == 3)
            {
                throw new InvalidOperationException("redis-server did not start on a free port in three attempts.");
            }
        }
    }

    /// <summary>INFO ALL (every section, including commandstats), with the bytes this request and its reply took.</summary>
    public async Task<RedisInfo> InfoAsync()
    {
        var reply = await CommandAsync("INFO", "all").ConfigureAwait(false);
        return RedisInfo.Parse(reply.Text, reply.RequestBytes, reply.ReplyBytes);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                // SHUTDOWN closes the connection instead of answering.
                await CommandAsync("SHUTDOWN", "NOSAVE").WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or TimeoutException or InvalidOperationException)
        {
        }

        try
        {
            using var exit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _process.WaitForExitAsync(exit.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            _process.Kill();
        }

        _probe.Dispose();
        _process.Dispose();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Sends one command as a RESP array and reads a simple, integer or bulk-string reply.</summary>
    private async Task<(string Text, int RequestBytes, int ReplyBytes)> CommandAsync(params string[] args)
    {
        var request = new StringBuilder().Append('*').Append(args.Length).Append("\r\n");
        foreach (var arg in args)
        {
            request.Append('$').Append(Encoding.UTF8.GetByteCount(arg)).Append("\r\n").Append(arg).Append("\r\n");
        }

        var bytes = Encoding.UTF8.GetBytes(request.ToString());
        await _stream.WriteAsync(bytes).ConfigureAwait(false);
        _buffered = 0;
        var lineEnd = await FillUntilAsync(() => _buffer.AsSpan(0, _buffered).IndexOf("\r\n"u8)).ConfigureAwait(false);
        var line = Encoding.UTF8.GetString(_buffer, 1, lineEnd - 1);
        switch ((char)_buffer[0])
        {
            case '+' or ':':
                return (line, bytes.Length, lineEnd + 2);
            case '-':
                throw new InvalidOperationException($"Redis answered {args[0]} with an error: {line}");
            case '$':
                var length = int.Parse(line, System.Globalization.CultureInfo.InvariantCulture);
                if (length < 0)
                {
                    return (string.Empty, bytes.Length, lineEnd + 2);
                }

                var total = lineEnd + 2 + length + 2;
                await FillUntilAsync(() => _buffered >= total ? total : -1).ConfigureAwait(false);
                return (Encoding.UTF8.GetString(_buffer, lineEnd + 2, length), bytes.Length, total);
            default:
                throw new InvalidOperationException($"Unexpected reply to {args[0]}: '{(char)_buffer[0]}'.");
        }
    }

    private async Task<int> FillUntilAsync(Func<int> found)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        for (var reads = 0; reads < 10_000; reads++)
        {
            if (found() is var at and >= 0)
            {
                return at;
            }

            if (_buffered == _buffer.Length)
            {
                throw new InvalidOperationException("A Redis reply did not fit the probe's buffer.");
            }

            var read = await _stream.ReadAsync(_buffer.AsMemory(_buffered), timeout.Token).ConfigureAwait(false);
            if (read == 0)
            {
                throw new IOException("Redis closed the connection.");
            }

            _buffered += read;
        }

        throw new InvalidOperationException("A Redis reply did not end.");
    }
}

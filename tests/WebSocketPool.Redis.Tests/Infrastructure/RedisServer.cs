// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace WebSocketPool.Redis.Tests.Infrastructure;

/// <summary>
/// A real redis-server of its own on 127.0.0.1 and a free port, without persistence, started and stopped by the tests.
/// It can be shut down (<c>redis-cli shutdown nosave</c>) and started again on the same port, empty, as after a crash.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    public const string ServerPath = "/usr/bin/redis-server";
    public const string CliPath = "/usr/bin/redis-cli";

    private readonly string _directory = Directory.CreateTempSubdirectory("wsp-redis-").FullName;
    private Process? _process;

    private RedisServer(int port)
    {
        Port = port;
    }

    public int Port { get; }

    /// <summary>Gets a StackExchange.Redis configuration string for this server, with short timeouts for outage tests.</summary>
    public string Configuration => $"127.0.0.1:{Port},connectTimeout=2000,syncTimeout=5000,asyncTimeout=5000,connectRetry=1";

    public static async Task<RedisServer> StartNewAsync()
    {
        var server = CreateStopped();
        await server.StartAsync();
        return server;
    }

    /// <summary>Reserves a free port for a server that is not started yet (a cluster that boots before its Redis).</summary>
    public static RedisServer CreateStopped()
    {
        if (!File.Exists(ServerPath) || !File.Exists(CliPath))
        {
            throw new InvalidOperationException(
                $"{ServerPath} (or {CliPath}) is missing. The Redis tests run against a real server and do not skip: " +
                "install it with 'apt-get install -y redis-server'.");
        }

        return new RedisServer(FreePort());
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Starts the server (again) on its port and waits until it answers PING.</summary>
    public async Task StartAsync()
    {
        var info = new ProcessStartInfo(ServerPath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // Its own directory, so that a shutdown that keeps the data (SHUTDOWN SAVE) is found by the next start.
        foreach (var arg in new[] { "--port", Port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes", "--dir", _directory })
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("redis-server did not start.");
        process.OutputDataReceived += static (_, _) => { };
        process.ErrorDataReceived += static (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        var started = Stopwatch.StartNew();
        while (!await PingAsync())
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"redis-server exited with code {process.ExitCode} on port {Port}.");
            }

            if (started.Elapsed > TimeSpan.FromSeconds(15))
            {
                throw new TimeoutException($"redis-server did not answer PING on port {Port} within 15 s.");
            }

            await Task.Delay(20);
        }
    }

    /// <summary>
    /// Stops the server the way an operator would: <c>redis-cli shutdown nosave</c>, so its data is gone; or, with
    /// <paramref name="keepData"/>, <c>shutdown save</c>, so the next <see cref="StartAsync"/> loads it again.
    /// </summary>
    public async Task ShutdownAsync(bool keepData = false)
    {
        await CliAsync("shutdown", keepData ? "save" : "nosave");

        if (_process is { } process)
        {
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(15));
            process.Dispose();
            _process = null;
        }
    }

    /// <summary>Makes the server slow: it answers no client command for <paramref name="duration"/> (<c>CLIENT PAUSE … ALL</c>).</summary>
    public Task PauseAsync(TimeSpan duration) => CliAsync("client", "pause", ((long)duration.TotalMilliseconds).ToString(), "all");

    /// <summary>Closes every client connection of one type (<c>normal</c>, <c>pubsub</c>); clients reconnect by themselves.</summary>
    public Task KillClientsAsync(string type) => CliAsync("client", "kill", "type", type);
    /// <summary>Runs one <c>redis-cli</c> command (INFO, PUBSUB, ACL, CLIENT, CONFIG …) and returns what it printed.</summary>
    public async Task<string> CommandAsync(params string[] args)
    {
        var info = new ProcessStartInfo(CliPath) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "-h", "127.0.0.1", "-p", Port.ToString() }.Concat(args))
        {
            info.ArgumentList.Add(arg);
        }

        using var cli = Process.Start(info)!;
        var output = cli.StandardOutput.ReadToEndAsync();
        await cli.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(15));
        return (await output).Trim();
    }

    private async Task CliAsync(params string[] args)
    {
        var info = new ProcessStartInfo(CliPath) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "-h", "127.0.0.1", "-p", Port.ToString() }.Concat(args))
        {
            info.ArgumentList.Add(arg);
        }

        using var cli = Process.Start(info)!;
        await cli.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(15));
    }

    private async Task<bool> PingAsync()
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, Port);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray());
            var buffer = new byte[16];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            var read = await stream.ReadAsync(buffer, timeout.Token);
            return Encoding.ASCII.GetString(buffer, 0, read).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { } process)
        {
            if (!process.HasExited)
            {
                process.Kill();
                await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }

            process.Dispose();
            _process = null;
        }

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temporary directory is harmless.
        }
    }
}

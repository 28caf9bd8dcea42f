// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;

namespace WebSocketPool.BrowserTests.Infrastructure;

/// <summary>
/// The built sample run for real, as a user runs it: <c>dotnet ChatServer.dll --urls http://127.0.0.1:PORT</c>, started
/// from an empty temporary directory (so it must find its appsettings and page on its own). It can be stopped the way
/// a service manager stops it (SIGTERM, graceful drain) and started again on the same port.
/// </summary>
public sealed partial class ChatServerProcess : IAsyncDisposable
{
    private static readonly TimeSpan s_startTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan s_stopTimeout = TimeSpan.FromSeconds(30);

    private readonly string[] _arguments;
    private readonly string _workingDirectory;
    private readonly Queue<string> _output = new();
    private Process? _process;
    private int _port;

    private ChatServerProcess(string[] arguments)
    {
        _arguments = arguments;
        _workingDirectory = Directory.CreateTempSubdirectory("chatserver-cwd-").FullName;
    }

    /// <summary>Gets the server's address, e.g. <c>http://127.0.0.1:41234/</c>.</summary>
    public Uri BaseUri => new($"http://127.0.0.1:{_port.ToString(CultureInfo.InvariantCulture)}/");

    /// <summary>Gets the path of the ChatServer.dll under test.</summary>
    public static string DllPath
    {
        get
        {
            var path = typeof(ChatServerProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
                .FirstOrDefault(a => a.Key == "ChatServerPath")?.Value;
            if (string.IsNullOrEmpty(path) || !File.Exists(path))
            {
                throw new InvalidOperationException($"ChatServer.dll was not found at '{path}'. Build samples/ChatServer (the test project references it).");
            }

            return path;
        }
    }

    /// <summary>Starts the server on a free port chosen by the OS, with extra command-line arguments.</summary>
    public static async Task<ChatServerProcess> StartAsync(params string[] arguments)
    {
        var server = new ChatServerProcess(arguments);
        try
        {
            await server.StartProcessAsync(port: 0);
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }

        return server;
    }

    /// <summary>Stops the server gracefully (SIGTERM: the pool closes every socket with 1001) and waits for it to exit.</summary>
    public async Task StopAsync()
    {
        if (_process is not { } process)
        {
            return;
        }

        _process = null;
        try
        {
            if (!process.HasExited)
            {
                using (var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false })!)
                {
                    await kill.WaitForExitAsync();
                }

                using var timeout = new CancellationTokenSource(s_stopTimeout);
                try
                {
                    await process.WaitForExitAsync(timeout.Token);
                }
                catch (OperationCanceledException)
                {
                    process.Kill(entireProcessTree: true);
                    throw new TimeoutException($"The server did not stop within {s_stopTimeout.TotalSeconds} s of SIGTERM.{Environment.NewLine}{Output}");
                }
            }
        }
        finally
        {
            process.Dispose();
        }
    }

    /// <summary>Starts the stopped server again on the same port.</summary>
    public Task RestartAsync()
    {
        if (_process is not null)
        {
            throw new InvalidOperationException("Stop the server first.");
        }

        return StartProcessAsync(_port);
    }

    /// <summary>Gets the server's recent console output, for failure messages.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return string.Join(Environment.NewLine, _output);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { } process)
        {
            _process = null;
            try
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                    await process.WaitForExitAsync();
                }
            }
            finally
            {
                process.Dispose();
            }
        }

        try
        {
            Directory.Delete(_workingDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A leftover empty temp directory is harmless.
        }
    }

    private async Task StartProcessAsync(int port)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = _workingDirectory,
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        info.ArgumentList.Add(DllPath);
        info.ArgumentList.Add("--urls");
        info.ArgumentList.Add($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}");
        foreach (var argument in _arguments)
        {
            info.ArgumentList.Add(argument);
        }

        // The sample as shipped: production settings, whatever the test runner's environment says.
        info.Environment.Remove("ASPNETCORE_ENVIRONMENT");
        info.Environment.Remove("DOTNET_ENVIRONMENT");
        info.Environment.Remove("ASPNETCORE_URLS");

        // Data-protection keys (which encrypt the sign-in cookie) live under HOME: a private HOME keeps them apart from
        // the machine's and lets them outlive a restart, as they do for a real deployment.
        info.Environment["HOME"] = Directory.CreateDirectory(Path.Combine(_workingDirectory, "home")).FullName;

        var listening = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => OnLine(e.Data, listening);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data, listening);
        process.Exited += (_, _) => listening.TrySetException(new InvalidOperationException("The server exited while starting."));
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        try
        {
            _port = await listening.Task.WaitAsync(s_startTimeout);
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException)
        {
            throw new InvalidOperationException($"ChatServer did not start: {ex.Message}{Environment.NewLine}{Output}", ex);
        }
    }

    private void OnLine(string? line, TaskCompletionSource<int> listening)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.Enqueue(line);
            while (_output.Count > 300)
            {
                _output.Dequeue();
            }
        }

        if (ListeningLine().Match(line) is { Success: true } match)
        {
            listening.TrySetResult(int.Parse(match.Groups["port"].Value, CultureInfo.InvariantCulture));
        }
    }

    [GeneratedRegex(@"Now listening on: http://127\.0\.0\.1:(?<port>\d+)")]
    private static partial Regex ListeningLine();
}

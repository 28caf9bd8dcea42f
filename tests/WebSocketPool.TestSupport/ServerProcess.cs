// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace WebSocketPool.TestSupport;

/// <summary>
/// A server run as a child process, as a user runs it: <c>dotnet DLL --urls http://127.0.0.1:PORT …</c>, optionally
/// under <c>prlimit</c>. It is ready once it prints "Now listening on: http://127.0.0.1:PORT"; it keeps its recent
/// console output for failure messages, and can be stopped as a service manager stops it (SIGTERM), killed as a crash
/// kills it (SIGKILL), and started again on the same port.
/// </summary>
public sealed partial class ServerProcess : IAsyncDisposable
{
    private const int KeptOutputLines = 300;
    private static readonly TimeSpan s_killWait = TimeSpan.FromSeconds(20);

    private readonly ServerProcessOptions _options;
    private readonly string _name;
    private readonly string? _workingDirectory;
    private readonly string? _home;
    private readonly Queue<string> _output = new();
    private Process? _process;
    private int _port;

    private ServerProcess(ServerProcessOptions options)
    {
        _options = options;
        _name = Path.GetFileNameWithoutExtension(options.DllPath);
        _port = options.Port;
        _workingDirectory = options.UseEmptyWorkingDirectory
            ? Directory.CreateTempSubdirectory(_name.ToLowerInvariant() + "-cwd-").FullName
            : options.WorkingDirectory;
        _home = options.UsePrivateHome ? Directory.CreateTempSubdirectory(_name.ToLowerInvariant() + "-home-").FullName : null;
    }

    /// <summary>Gets the server's address, e.g. <c>http://127.0.0.1:41234/</c>.</summary>
    public Uri BaseUri => new($"http://127.0.0.1:{_port.ToString(CultureInfo.InvariantCulture)}/");

    /// <summary>Gets the process id of the running server (of <c>prlimit</c>'s exec, which is the same process).</summary>
    public int Id => Running.Id;

    /// <summary>Gets a value indicating whether the server has exited (or is stopped).</summary>
    public bool HasExited => _process is not { } process || process.HasExited;

    /// <summary>Gets the server's recent console output (stdout and stderr), for failure messages.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return string.Join(System.Environment.NewLine, _output);
            }
        }
    }

    private Process Running => _process ?? throw new InvalidOperationException($"{_name} is not running.");

    /// <summary>Starts the server and waits until it listens.</summary>
    public static async Task<ServerProcess> StartAsync(ServerProcessOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!File.Exists(options.DllPath))
        {
            throw new FileNotFoundException($"{Path.GetFileName(options.DllPath)} was not built; the test project references the sample to build it.", options.DllPath);
        }

        var server = new ServerProcess(options);
        try
        {
            await server.StartProcessAsync();
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

                using var timeout = new CancellationTokenSource(_options.StopDeadline);
                try
                {
                    await process.WaitForExitAsync(timeout.Token);
                }
                catch (OperationCanceledException)
                {
                    process.Kill(entireProcessTree: true);
                    throw new TimeoutException($"{_name} did not stop within {_options.StopDeadline.TotalSeconds} s of SIGTERM.{System.Environment.NewLine}{Output}");
                }
            }
        }
        finally
        {
            process.Dispose();
        }
    }

    /// <summary>
    /// SIGKILL: the server gets no chance to release anything or to say goodbye. Like <see cref="StopAsync"/>, it can then
    /// be started again with <see cref="RestartAsync"/> (a crash and a restart by a service manager).
    /// </summary>
    public async Task KillAsync()
    {
        if (_process is { } process)
        {
            _process = null;
            await KillAndDisposeAsync(process);
        }
    }

    /// <summary>Starts the stopped (or killed) server again on the same port.</summary>
    public Task RestartAsync()
    {
        if (_process is not null)
        {
            throw new InvalidOperationException("Stop the server first.");
        }

        return StartProcessAsync();
    }

    /// <summary>Kills the server if it still runs, and deletes its temporary directories.</summary>
    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        DeleteQuietly(_options.UseEmptyWorkingDirectory ? _workingDirectory : null);
        DeleteQuietly(_home);
    }

    private static void DeleteQuietly(string? directory)
    {
        if (directory is null)
        {
            return;
        }

        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temporary directory is harmless.
        }
    }

    private async Task StartProcessAsync()
    {
        var info = new ProcessStartInfo
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        if (_workingDirectory is not null)
        {
            info.WorkingDirectory = _workingDirectory;
        }

        if (_options.MaxOpenFiles is { } limit)
        {
            info.FileName = "prlimit";
            info.ArgumentList.Add($"--nofile={limit}:{limit}");
            info.ArgumentList.Add("dotnet");
        }
        else
        {
            info.FileName = "dotnet";
        }

        info.ArgumentList.Add(_options.DllPath);
        info.ArgumentList.Add("--urls");
        info.ArgumentList.Add($"http://127.0.0.1:{_port.ToString(CultureInfo.InvariantCulture)}");
        foreach (var argument in _options.Arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in _options.Environment)
        {
            if (value is null)
            {
                info.Environment.Remove(name);
            }
            else
            {
                info.Environment[name] = value;
            }
        }

        if (_home is not null)
        {
            info.Environment["HOME"] = _home;
        }

        var listening = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => OnLine(e.Data, listening);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data, listening);
        process.Exited += (_, _) => listening.TrySetException(new InvalidOperationException($"{_name} exited while starting."));
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        try
        {
            _port = await listening.Task.WaitAsync(_options.StartDeadline);
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"{_name} did not start listening within {_options.StartDeadline.TotalSeconds} s.{System.Environment.NewLine}{Output}", ex);
        }
        catch (InvalidOperationException ex)
        {
            throw new InvalidOperationException($"{_name} did not start: {ex.Message}{System.Environment.NewLine}{Output}", ex);
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
            while (_output.Count > KeptOutputLines)
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

    private static async Task KillAndDisposeAsync(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync().WaitAsync(s_killWait);
            }
        }
        finally
        {
            process.Dispose();
        }
    }
}

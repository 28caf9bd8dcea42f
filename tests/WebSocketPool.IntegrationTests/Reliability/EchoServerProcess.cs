// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace WebSocketPool.IntegrationTests.Reliability;

/// <summary>
/// The EchoServer sample run as a child process (its dll is copied next to the tests), optionally under
/// <c>prlimit</c> so that it can run out of file descriptors without taking the test host with it.
/// </summary>
internal sealed partial class EchoServerProcess : IAsyncDisposable
{
    private const int KeptOutputLines = 200;

    private readonly Process _process;
    private readonly Queue<string> _output = new();
    private readonly TaskCompletionSource<Uri> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private EchoServerProcess(Process process)
    {
        _process = process;
    }

    public Uri BaseUri { get; private set; } = null!;

    public bool HasExited => _process.HasExited;

    public int Id => _process.Id;

    /// <summary>Starts EchoServer on a free loopback port, with at most <paramref name="maxOpenFiles"/> descriptors when given.</summary>
    public static async Task<EchoServerProcess> StartAsync(int? maxOpenFiles, TimeSpan deadline, params string[] arguments)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "EchoServer.dll");
        File.Exists(dll).Should().BeTrue("the EchoServer sample is copied next to the tests by its project reference");
        var info = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (maxOpenFiles is { } limit)
        {
            info.FileName = "prlimit";
            info.ArgumentList.Add($"--nofile={limit}:{limit}");
            info.ArgumentList.Add("dotnet");
        }
        else
        {
            info.FileName = "dotnet";
        }

        foreach (var argument in new[]
        {
            dll, "--urls", "http://127.0.0.1:0",
            "--Logging:LogLevel:Default=Warning",
            "--Logging:LogLevel:Microsoft.Hosting.Lifetime=Information",
        }.Concat(arguments))
        {
            info.ArgumentList.Add(argument);
        }

        var server = new EchoServerProcess(Process.Start(info)!);
        server._process.OutputDataReceived += (_, e) => server.OnOutput(e.Data);
        server._process.ErrorDataReceived += (_, e) => server.OnOutput(e.Data);
        server._process.BeginOutputReadLine();
        server._process.BeginErrorReadLine();
        try
        {
            server.BaseUri = await server._listening.Task.WaitAsync(deadline);
        }
        catch (TimeoutException)
        {
            await server.DisposeAsync();
            throw new TimeoutException("EchoServer did not start listening: " + server.Output);
        }

        return server;
    }

    /// <summary>Gets the last lines the server wrote, for failure messages.</summary>
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

    /// <summary>Reads <c>/stats</c>; <see langword="null"/> when the server does not answer within <paramref name="timeout"/>.</summary>
    public async Task<JsonElement?> TryGetStatsAsync(TimeSpan timeout)
    {
        try
        {
            using var http = new HttpClient { Timeout = timeout };
            return await http.GetFromJsonAsync<JsonElement>(new Uri(BaseUri, "/stats"));
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException)
        {
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        }

        _process.Dispose();
    }

    private void OnOutput(string? line)
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
            _listening.TrySetResult(new Uri(match.Groups[1].Value));
        }
    }

    [GeneratedRegex(@"Now listening on: (http://\S+)")]
    private static partial Regex ListeningLine();
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;

namespace WebSocketPool.Redis.Tests.Infrastructure;

/// <summary>
/// The EchoServer sample as a node in a separate process (<c>dotnet EchoServer.dll</c>, built beside the tests), so a
/// test can kill it with SIGKILL as an operator's <c>kill -9</c> or a crash would.
/// </summary>
public sealed class EchoServerProcess : IAsyncDisposable
{
    private readonly Process _process;

    private EchoServerProcess(Process process, Uri baseUri)
    {
        _process = process;
        BaseUri = baseUri;
    }

    public Uri BaseUri { get; }

    public static async Task<EchoServerProcess> StartAsync(params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "EchoServer.dll");
        if (!File.Exists(dll))
        {
            throw new FileNotFoundException("EchoServer.dll is not beside the tests; the test project references the sample to build it.", dll);
        }

        var port = RedisServer.FreePort();
        var baseUri = new Uri($"http://127.0.0.1:{port}");
        var info = new ProcessStartInfo("dotnet")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetTempPath(),
        };
        info.ArgumentList.Add(dll);
        info.ArgumentList.Add("--urls");
        info.ArgumentList.Add(baseUri.ToString().TrimEnd('/'));
        info.ArgumentList.Add("--Logging:LogLevel:Default=Warning");
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("dotnet did not start.");
        process.OutputDataReceived += static (_, _) => { };
        process.ErrorDataReceived += static (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var node = new EchoServerProcess(process, baseUri);

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        await Clients.WaitUntilAsync(async () =>
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"EchoServer exited with code {process.ExitCode} before it was ready.");
            }

            try
            {
                using var response = await http.GetAsync(new Uri(baseUri, "/health"));
                return await response.Content.ReadAsStringAsync() == "Healthy";
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(30), "the EchoServer process answers /health with Healthy (Redis connected)");
        return node;
    }

    public Uri WebSocketUri(string user) =>
        new UriBuilder(BaseUri) { Scheme = "ws", Path = "/ws", Query = "user=" + Uri.EscapeDataString(user) }.Uri;

    /// <summary>SIGKILL: the process gets no chance to release or to say goodbye.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            await KillAsync();
        }

        _process.Dispose();
    }
}

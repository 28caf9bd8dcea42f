// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.WebSockets;
using System.Reflection;
using WebSocketPool.Redis.Tests.Infrastructure;

namespace WebSocketPool.Redis.Tests.ChatCluster;

/// <summary>
/// The ChatServer sample as a node of a cluster, in a process of its own: <c>dotnet ChatServer.dll --urls
/// http://127.0.0.1:PORT --Redis:Configuration=…</c>, run from its build folder as a user runs it. It signs users in
/// over HTTP and opens WebSockets that carry the sign-in cookie; it can be killed with SIGKILL like a crashed node.
/// </summary>
public sealed class ChatNodeProcess : IAsyncDisposable
{
    private static readonly TimeSpan s_startDeadline = TimeSpan.FromSeconds(30);

    private readonly Process _process;
    private readonly Queue<string> _output = new();
    private readonly HttpClient _http;
    private readonly string _home;

    private ChatNodeProcess(Process process, Uri baseUri, string home)
    {
        _process = process;
        _home = home;
        BaseUri = baseUri;

        // Cookies travel by hand: a cookie issued by one node is sent to another, as a load balancer would do.
        _http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false })
        {
            BaseAddress = baseUri,
            Timeout = Clients.Deadline,
        };
    }

    public Uri BaseUri { get; }

    public Uri WebSocketUri => new UriBuilder(BaseUri) { Scheme = "ws", Path = "/ws" }.Uri;

    /// <summary>Gets the node's recent console output, for failure messages.</summary>
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

    /// <summary>Starts a node on a free loopback port and waits until it reports Healthy (so Redis is connected).</summary>
    public static async Task<ChatNodeProcess> StartAsync(string redisConfiguration, string prefix, params string[] args)
    {
        var port = RedisServer.FreePort();
        var baseUri = new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}");
        var info = new ProcessStartInfo("dotnet")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetTempPath(),
        };
        info.ArgumentList.Add(DllPath);
        info.ArgumentList.Add("--urls");
        info.ArgumentList.Add(baseUri.ToString().TrimEnd('/'));
        info.ArgumentList.Add($"--Redis:Configuration={redisConfiguration}");
        info.ArgumentList.Add($"--Redis:Prefix={prefix}");
        info.ArgumentList.Add("--Serilog:MinimumLevel:Default=Warning");
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        // The sample as shipped, whatever the test runner's environment says.
        info.Environment.Remove("ASPNETCORE_ENVIRONMENT");
        info.Environment.Remove("DOTNET_ENVIRONMENT");
        info.Environment.Remove("ASPNETCORE_URLS");

        // A HOME of its own, as on a machine of its own: the default key ring (under HOME) is not shared between
        // nodes, so only the one in Redis can make a cookie from one node readable by another.
        var home = Directory.CreateTempSubdirectory("chatnode-home-").FullName;
        info.Environment["HOME"] = home;

        var process = Process.Start(info) ?? throw new InvalidOperationException("dotnet did not start.");
        var node = new ChatNodeProcess(process, baseUri, home);
        process.OutputDataReceived += (_, e) => node.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => node.OnLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        try
        {
            await Clients.WaitUntilAsync(async () =>
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"ChatServer exited with code {process.ExitCode} before it was ready.{Environment.NewLine}{node.Output}");
                }

                try
                {
                    using var response = await node._http.GetAsync(new Uri("/health", UriKind.Relative));
                    return await response.Content.ReadAsStringAsync() == "Healthy";
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                {
                    return false;
                }
            }, s_startDeadline, "the ChatServer node answers /health with Healthy (Redis connected)");
        }
        catch
        {
            await node.DisposeAsync();
            throw;
        }

        return node;
    }

    /// <summary>Signs in with <c>POST /login</c> and returns the cookie (<c>name=value</c>) to send as a <c>Cookie</c> header.</summary>
    public async Task<string> LoginAsync(string name)
    {
        using var response = await _http.PostAsync(new Uri("/login", UriKind.Relative), new FormUrlEncodedContent([new("name", name)]));
        response.StatusCode.Should().Be(HttpStatusCode.Redirect, "a valid name signs in and redirects to the page");
        var setCookie = response.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("chat.auth=", StringComparison.Ordinal));
        return setCookie[..setCookie.IndexOf(';', StringComparison.Ordinal)];
    }

    /// <summary>The admission preview: a plain <c>GET /ws</c> (no upgrade) with the cookie, if any.</summary>
    public async Task<(HttpStatusCode Status, string Body)> PreviewAsync(string? cookie)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/ws", UriKind.Relative));
        if (cookie is not null)
        {
            request.Headers.Add("Cookie", cookie);
        }

        using var response = await _http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>Opens the chat WebSocket with the cookie (and no Origin header, as a non-browser client).</summary>
    public async Task<ClientWebSocket> ConnectAsync(string cookie)
    {
        var client = CreateSocket(cookie);
        using var timeout = new CancellationTokenSource(Clients.Deadline);
        await client.ConnectAsync(WebSocketUri, timeout.Token);
        return client;
    }

    /// <summary>Tries the handshake; returns 101 (and closes the socket) when admitted, else the refusal's HTTP status.</summary>
    public async Task<int> TryConnectStatusAsync(string cookie)
    {
        using var client = CreateSocket(cookie);
        using var timeout = new CancellationTokenSource(Clients.Deadline);
        try
        {
            await client.ConnectAsync(WebSocketUri, timeout.Token);
        }
        catch (WebSocketException)
        {
            return (int)client.HttpStatusCode;
        }

        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token);
        return 101;
    }

    /// <summary>SIGKILL: the node gets no chance to release its leases or to tell anyone.</summary>
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
        _http.Dispose();
        try
        {
            Directory.Delete(_home, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temporary directory is harmless.
        }
    }

    private static string DllPath
    {
        get
        {
            var path = typeof(ChatNodeProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
                .FirstOrDefault(a => a.Key == "ChatServerPath")?.Value;
            if (string.IsNullOrEmpty(path) || !File.Exists(path))
            {
                throw new FileNotFoundException("ChatServer.dll was not built; the test project references samples/ChatServer to build it.", path);
            }

            return path;
        }
    }

    private static ClientWebSocket CreateSocket(string cookie)
    {
        var client = new ClientWebSocket();
        client.Options.KeepAliveInterval = TimeSpan.Zero;
        client.Options.CollectHttpResponseDetails = true;
        client.Options.SetRequestHeader("Cookie", cookie);
        return client;
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.Enqueue(line);
            while (_output.Count > 200)
            {
                _output.Dequeue();
            }
        }
    }
}

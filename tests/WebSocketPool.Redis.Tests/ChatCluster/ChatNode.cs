// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using System.Net.WebSockets;
using WebSocketPool.Redis.Tests.Infrastructure;

namespace WebSocketPool.Redis.Tests.ChatCluster;

/// <summary>
/// The ChatServer sample as a node of a cluster, in a process of its own (<see cref="ServerProcess"/>, with
/// <c>--Redis:Configuration=…</c>), run from its build folder as a user runs it, with a HOME of its own as on a machine of
/// its own: the default key ring (under HOME) is not shared between nodes, so only the one in Redis can make a cookie
/// from one node readable by another. It signs users in over HTTP and opens WebSockets that carry the sign-in cookie; it
/// can be killed with SIGKILL like a crashed node.
/// </summary>
public sealed class ChatNode : IAsyncDisposable
{
    private readonly ServerProcess _process;
    private readonly HttpClient _http;

    private ChatNode(ServerProcess process)
    {
        _process = process;

        // Cookies travel by hand: a cookie issued by one node is sent to another, as a load balancer would do.
        _http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false })
        {
            BaseAddress = process.BaseUri,
            Timeout = Clients.Deadline,
        };
    }

    public Uri BaseUri => _process.BaseUri;

    public Uri WebSocketUri => new UriBuilder(BaseUri) { Scheme = "ws", Path = "/ws" }.Uri;

    /// <summary>Gets the node's recent console output, for failure messages.</summary>
    public string Output => _process.Output;

    /// <summary>Starts a node on a free loopback port and waits until it reports Healthy (so Redis is connected).</summary>
    public static async Task<ChatNode> StartAsync(string redisConfiguration, string prefix, params string[] args)
    {
        string[] arguments =
        [
            $"--Redis:Configuration={redisConfiguration}",
            $"--Redis:Prefix={prefix}",
            "--Serilog:MinimumLevel:Default=Warning",
            .. args,
        ];
        return new ChatNode(await NodeHealth.StartHealthyAsync(SampleServers.ChatServer(arguments)));
    }

    /// <summary>Signs in with <c>POST /login</c> and returns the cookie (<c>name=value</c>) to send as a <c>Cookie</c> header.</summary>
    public async Task<string> LoginAsync(string name)
    {
        using var response = await _http.PostAsync(new Uri("/login", UriKind.Relative), new FormUrlEncodedContent([new("name", name)]));
        response.StatusCode.Should().Be(HttpStatusCode.Redirect, "a valid name signs in and redirects to the page");
        var setCookie = response.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("chat.auth=", StringComparison.Ordinal));
        return setCookie[..setCookie.IndexOf(';', StringComparison.Ordinal)];
    }

    /// <summary>Signs out with a plain <c>POST /logout</c> carrying <paramref name="cookie"/>; returns the status.</summary>
    public async Task<HttpStatusCode> LogoutAsync(string cookie)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/logout", UriKind.Relative));
        request.Headers.Add("Cookie", cookie);
        using var response = await _http.SendAsync(request);
        return response.StatusCode;
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
    public Task<ClientWebSocket> ConnectAsync(string cookie) => Clients.ConnectAsync(WebSocketUri, cookie);

    /// <summary>Tries the handshake; returns 101 (and closes the socket) when admitted, else the refusal's HTTP status.</summary>
    public Task<int> TryConnectStatusAsync(string cookie) => Clients.TryConnectStatusAsync(WebSocketUri, cookie);

    /// <summary>SIGKILL: the node gets no chance to release its leases or to tell anyone.</summary>
    public Task KillAsync() => _process.KillAsync();

    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync();
        _http.Dispose();
    }
}

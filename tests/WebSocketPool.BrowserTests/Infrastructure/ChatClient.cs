// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace WebSocketPool.BrowserTests.Infrastructure;

/// <summary>
/// A non-browser client of the chat: signs in with <c>POST /login</c>, keeps the cookie, and opens WebSockets that
/// carry it. Every receive has a deadline.
/// </summary>
public sealed class ChatClient : IDisposable
{
    private static readonly TimeSpan s_receiveTimeout = TimeSpan.FromSeconds(15);

    private readonly Uri _baseUri;
    private readonly CookieContainer _cookies;

    private ChatClient(Uri baseUri, CookieContainer cookies, HttpClient http)
    {
        _baseUri = baseUri;
        _cookies = cookies;
        Http = http;
    }

    /// <summary>Gets the HTTP client: it keeps cookies and does not follow redirects (so a 302 is seen as such).</summary>
    public HttpClient Http { get; }

    public static ChatClient For(Uri baseUri)
    {
        var cookies = new CookieContainer();
        var handler = new HttpClientHandler { AllowAutoRedirect = false, CookieContainer = cookies, UseCookies = true };
        return new ChatClient(baseUri, cookies, new HttpClient(handler) { BaseAddress = baseUri });
    }

    public Task<HttpResponseMessage> LoginAsync(string name) =>
        Http.PostAsync(new Uri("/login", UriKind.Relative), new FormUrlEncodedContent([new("name", name)]));

    /// <summary>Signs out with a plain <c>POST /logout</c> (no Origin, no token: a non-browser client).</summary>
    public Task<HttpResponseMessage> LogoutAsync() => Http.PostAsync(new Uri("/logout", UriKind.Relative), content: null);

    /// <summary>The admission preview: a plain <c>GET /ws</c> with this client's cookies.</summary>
    public Task<HttpResponseMessage> PreviewAsync() => Http.GetAsync(new Uri("/ws", UriKind.Relative));

    /// <summary>Fetches an antiforgery token as the page does: <c>GET /antiforgery</c>, whose cookie half this client keeps.</summary>
    public async Task<(string HeaderName, string Token)> GetAntiforgeryTokenAsync()
    {
        using var response = await Http.GetAsync(new Uri("/antiforgery", UriKind.Relative));
        response.EnsureSuccessStatusCode();
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return (body.RootElement.GetProperty("headerName").GetString()!, body.RootElement.GetProperty("token").GetString()!);
    }

    /// <summary>Gives this client a copy of <paramref name="other"/>'s cookies, as someone who copied them would hold.</summary>
    public void CopyCookiesFrom(ChatClient other)
    {
        foreach (System.Net.Cookie cookie in other._cookies.GetCookies(_baseUri))
        {
            _cookies.Add(_baseUri, new System.Net.Cookie(cookie.Name, cookie.Value));
        }
    }

    /// <summary>Tries the WebSocket handshake; returns 101 (and closes the socket) when admitted, else the refusal's status.</summary>
    public async Task<int> TryConnectStatusAsync()
    {
        using var socket = CreateSocket();
        using var timeout = new CancellationTokenSource(s_receiveTimeout);
        try
        {
            await socket.ConnectAsync(WebSocketUri, timeout.Token);
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token);
            return 101;
        }
        catch (WebSocketException)
        {
            return (int)socket.HttpStatusCode;
        }
    }

    /// <summary>Gets the WebSocket address of the chat.</summary>
    public Uri WebSocketUri => new UriBuilder(_baseUri) { Scheme = "ws", Path = "/ws" }.Uri;

    /// <summary>Creates a WebSocket that carries the sign-in cookie (if any), an optional Origin, and keeps the handshake's status.</summary>
    public ClientWebSocket CreateSocket(string? origin = null)
    {
        var socket = new ClientWebSocket();
        socket.Options.Cookies = _cookies;
        socket.Options.CollectHttpResponseDetails = true;
        if (origin is not null)
        {
            socket.Options.SetRequestHeader("Origin", origin);
        }

        return socket;
    }

    /// <summary>Opens a WebSocket with the sign-in cookie.</summary>
    public async Task<ClientWebSocket> ConnectAsync()
    {
        var socket = CreateSocket();
        using var timeout = new CancellationTokenSource(s_receiveTimeout);
        await socket.ConnectAsync(WebSocketUri, timeout.Token);
        return socket;
    }

    /// <summary>Sends one text message.</summary>
    public static Task SendAsync(ClientWebSocket socket, string text) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);

    /// <summary>Receives the next whole text message as JSON, or fails after the deadline.</summary>
    public static async Task<JsonElement> ReceiveAsync(ClientWebSocket socket)
    {
        using var timeout = new CancellationTokenSource(s_receiveTimeout);
        var buffer = new byte[64 * 1024];
        var length = 0;
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer.AsMemory(length), timeout.Token);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                throw new WebSocketException($"The server closed the connection: {socket.CloseStatus} {socket.CloseStatusDescription}");
            }

            length += result.Count;
            if (result.EndOfMessage)
            {
                using var document = JsonDocument.Parse(buffer.AsMemory(0, length));
                return document.RootElement.Clone();
            }
        }
    }

    /// <summary>Receives messages until one of <paramref name="type"/> arrives (skipping, e.g., presence updates).</summary>
    public static async Task<JsonElement> ReceiveAsync(ClientWebSocket socket, string type)
    {
        for (var i = 0; i < 100; i++)
        {
            var message = await ReceiveAsync(socket);
            if (message.GetProperty("type").GetString() == type)
            {
                return message;
            }
        }

        throw new InvalidOperationException($"No '{type}' message among the next 100.");
    }

    /// <summary>Reads (and drops) messages until the server's close frame; returns its close code.</summary>
    public static async Task<int?> ReceiveCloseAsync(ClientWebSocket socket)
    {
        using var timeout = new CancellationTokenSource(s_receiveTimeout);
        var buffer = new byte[64 * 1024];
        for (var i = 0; i < 1000; i++)
        {
            var result = await socket.ReceiveAsync(buffer.AsMemory(), timeout.Token);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return (int?)socket.CloseStatus;
            }
        }

        throw new InvalidOperationException("No close frame among the next 1000 frames.");
    }

    public void Dispose() => Http.Dispose();
}

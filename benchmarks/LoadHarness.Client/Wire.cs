// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using System.Net.WebSockets;
using System.Text;

namespace LoadHarness.Client;

/// <summary>Opening, speaking to and closing one benchmark connection, raw or SignalR (JSON protocol by hand).</summary>
internal static class Wire
{
    public const byte RecordSeparator = 0x1e;
    public const string Payload = "0123456789abcdefghijklmnopqrstuv";

    public static readonly byte[] RawEcho = Encoding.ASCII.GetBytes(Payload);
    public static readonly byte[] HubEcho = Encoding.ASCII.GetBytes("{\"type\":1,\"target\":\"Echo\",\"arguments\":[\"" + Payload + "\"]}\u001e");
    public static readonly byte[] HubPing = Encoding.ASCII.GetBytes("{\"type\":6}\u001e");
    private static readonly byte[] s_handshake = Encoding.ASCII.GetBytes("{\"protocol\":\"json\",\"version\":1}\u001e");
    public static readonly TextMessage RawEchoMessage = new(RawEcho);
    public static readonly TextMessage HubEchoMessage = new(HubEcho);
    private static readonly TextMessage s_handshakeMessage = new(s_handshake);

    /// <summary>One HTTP handler shared by all connections of a process (ClientWebSocket would otherwise make one each).</summary>
    public static readonly HttpMessageInvoker Invoker = new(new SocketsHttpHandler
    {
        ConnectTimeout = TimeSpan.FromSeconds(10),
        UseProxy = false,
    });

    public static Uri UriFor(string baseUrl, string mode, string user, string? tag = null)
    {
        var ws = baseUrl.Replace("http://", "ws://", StringComparison.Ordinal).TrimEnd('/');
        var query = "?user=" + Uri.EscapeDataString(user) + (tag is null ? string.Empty : "&c=" + Uri.EscapeDataString(tag));
        return new Uri(ws + ClientMode.PathOf(mode) + query);
    }

    /// <summary>
    /// Connects with the chosen client (<see cref="LoadClients"/>) and for SignalR completes the handshake. Returns the
    /// connection, or null and the HTTP status of the refusal (0 when none, -1 when the SignalR handshake failed).
    /// </summary>
    public static async Task<(BenchSocket? Socket, int Status)> OpenAsync(string client, string baseUrl, string mode, string user, string? tag, CancellationToken cancellationToken)
    {
        var signalR = ClientMode.IsSignalR(mode);
        if (client == LoadClients.ClientWebSocket)
        {
            var (webSocket, status) = await ConnectAsync(UriFor(baseUrl, mode, user, tag), signalR, cancellationToken).ConfigureAwait(false);
            return (webSocket is null ? null : new ClientWebSocketConnection(webSocket), status);
        }

        var server = new Uri(baseUrl);
        EndPoint endPoint = IPAddress.TryParse(server.Host, out var address) ? new IPEndPoint(address, server.Port) : new DnsEndPoint(server.Host, server.Port);
        var query = "?user=" + Uri.EscapeDataString(user) + (tag is null ? string.Empty : "&c=" + Uri.EscapeDataString(tag));
        var (socket, code) = await LightWebSocket.ConnectAsync(endPoint, server.Authority, ClientMode.PathOf(mode) + query, cancellationToken).ConfigureAwait(false);
        if (socket is null || !signalR)
        {
            return (socket, code);
        }

        try
        {
            await socket.SendAsync(s_handshakeMessage, cancellationToken).ConfigureAwait(false);
            var buffer = new byte[64];
            var result = await socket.ReceiveAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (!result.Closed && result.Count >= 3 && buffer[0] == (byte)'{' && buffer[1] == (byte)'}')
            {
                return (socket, 101);
            }
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or OperationCanceledException)
        {
        }

        socket.Abort();
        return (null, -1);
    }

    /// <summary>Connects (and for SignalR completes the handshake). Returns the socket, or null and the HTTP status of the refusal (0 when none).</summary>
    public static async Task<(ClientWebSocket? Socket, int Status)> ConnectAsync(Uri uri, bool signalR, CancellationToken cancellationToken)
    {
        var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        socket.Options.CollectHttpResponseDetails = true;
        try
        {
            await socket.ConnectAsync(uri, Invoker, cancellationToken).ConfigureAwait(false);
            if (signalR)
            {
                await socket.SendAsync(s_handshake, WebSocketMessageType.Text, true, cancellationToken).ConfigureAwait(false);
                var buffer = new byte[64];
                var result = await socket.ReceiveAsync(buffer, cancellationToken).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close || result.Count < 3 || buffer[0] != (byte)'{' || buffer[1] != (byte)'}')
                {
                    socket.Abort();
                    socket.Dispose();
                    return (null, -1);
                }
            }

            return (socket, 101);
        }
        catch (Exception ex) when (ex is WebSocketException or HttpRequestException or IOException or OperationCanceledException)
        {
            var status = (int)socket.HttpStatusCode;
            socket.Dispose();
            return (null, status);
        }
    }

    /// <summary>Closes with the closing handshake, bounded in time; aborts when the peer does not answer.</summary>
    public static async Task CloseAsync(ClientWebSocket socket, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            if (socket.State == WebSocketState.Open)
            {
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, cts.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or OperationCanceledException)
        {
            socket.Abort();
        }
        finally
        {
            socket.Dispose();
        }
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using System.Threading.Channels;

namespace WebSocketPool.Client.Internal;

/// <summary>
/// Makes one handshake. A refused handshake is read directly: with <c>CollectHttpResponseDetails</c> the
/// <see cref="ClientWebSocket"/> keeps the response's status and headers (so its <c>Retry-After</c>) after
/// <c>ConnectAsync</c> fails; the body, with the pool's reason, is only for the preview to read.
/// </summary>
internal static class Connector
{
    /// <summary>Connects, or returns why not: a refusal (an HTTP status other than 101) or the error.</summary>
    public static async Task<ConnectAttempt> ConnectAsync(
        ConnectionSettings settings, SendQueue sendQueue, ChannelWriter<WebSocketPoolClientMessage> received, TimeProvider time, CancellationToken stop)
    {
        var socket = new ClientWebSocket();
        var options = socket.Options;
        options.CollectHttpResponseDetails = true;
        options.KeepAliveInterval = settings.KeepAliveInterval;
        options.KeepAliveTimeout = settings.KeepAliveTimeout;
        foreach (var subProtocol in settings.Resume is null ? settings.SubProtocols : ResumeState.Offers(settings.SubProtocols))
        {
            options.AddSubProtocol(subProtocol);
        }

        foreach (var (name, value) in settings.Headers)
        {
            options.SetRequestHeader(name, value);
        }

        if (settings.Cookies is not null)
        {
            options.Cookies = settings.Cookies;
        }

        if (settings.Credentials is not null)
        {
            options.Credentials = settings.Credentials;
        }

        settings.Configure?.Invoke(options);

        using var timer = new CancellationTokenSource(settings.ConnectTimeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stop, timer.Token);
        try
        {
            await socket.ConnectAsync(settings.Resume?.Address(settings.Uri) ?? settings.Uri, linked.Token).ConfigureAwait(false);
            return new ConnectAttempt(new ClientConnection(socket, settings, sendQueue, received, time), null, null);
        }
        catch (Exception ex) when (ex is WebSocketException or HttpRequestException or IOException
            || (ex is OperationCanceledException && !stop.IsCancellationRequested))
        {
            var status = (int)socket.HttpStatusCode;
            var retryAfter = Refusal.ParseRetryAfter(Header(socket.HttpResponseHeaders, "Retry-After"), time.GetUtcNow());
            socket.Dispose();
            if (status is not (0 or 101))
            {
                return new ConnectAttempt(null, new Refusal(status, null, null, null, retryAfter, null, FromPreview: false), ex);
            }

            var error = ex is OperationCanceledException
                ? new TimeoutException($"The handshake took longer than ConnectTimeout ({settings.ConnectTimeout}).", ex)
                : ex;
            return new ConnectAttempt(null, null, error);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static string? Header(IReadOnlyDictionary<string, IEnumerable<string>>? headers, string name)
    {
        if (headers is null)
        {
            return null;
        }

        foreach (var (key, values) in headers)
        {
            if (string.Equals(key, name, StringComparison.OrdinalIgnoreCase))
            {
                return values.FirstOrDefault();
            }
        }

        return null;
    }
}

/// <summary>The result of one handshake: the connection, or the refusal, or the error.</summary>
internal readonly record struct ConnectAttempt(ClientConnection? Connection, Refusal? Refusal, Exception? Error);

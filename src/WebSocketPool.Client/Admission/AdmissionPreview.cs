// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;

namespace WebSocketPool.Client.Internal;

/// <summary>
/// Asks the pool's admission preview: a plain GET of the WebSocket address with the http(s) scheme, which answers with
/// the decision an upgrade would get now (2xx: would be admitted; otherwise the refusal's status and problem body) and
/// reserves nothing. It sends the client's headers, cookies and credentials, as the handshake does.
/// </summary>
internal sealed class AdmissionPreview : IDisposable
{
    private const int MaxBodyBytes = 16 * 1024;

    private readonly HttpClient _http;
    private readonly Uri _uri;
    private readonly IReadOnlyDictionary<string, string> _headers;
    private readonly TimeProvider _time;

    public AdmissionPreview(Uri webSocketUri, IReadOnlyDictionary<string, string> headers, CookieContainer? cookies, ICredentials? credentials,
        TimeSpan timeout, TimeProvider time)
    {
        var handler = new SocketsHttpHandler
        {
            UseCookies = cookies is not null,
            Credentials = credentials,
            AllowAutoRedirect = false,
        };
        if (cookies is not null)
        {
            handler.CookieContainer = cookies;
        }

        _http = new HttpClient(handler) { Timeout = timeout };
        _uri = new UriBuilder(webSocketUri) { Scheme = webSocketUri.Scheme == "wss" ? "https" : "http" }.Uri;
        _headers = headers;
        _time = time;
    }

    /// <summary>
    /// Returns the refusal, or <see langword="null"/> when the upgrade would be admitted or the answer does not say
    /// (a status that is not a refusal the pool gives, e.g. 404 from a server without the pool): the handshake decides.
    /// Throws <see cref="HttpRequestException"/> when the server cannot be reached.
    /// </summary>
    public async Task<Refusal?> AskAsync(CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, _uri);
        foreach (var (name, value) in _headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        var status = (int)response.StatusCode;
        if (response.IsSuccessStatusCode || status is not (401 or 403 or 429 or 503))
        {
            return null;
        }

        var body = await ReadBodyAsync(response, cancellationToken).ConfigureAwait(false);
        var retryAfter = Refusal.ReadRetryAfter(response.Headers, _time.GetUtcNow());
        return Refusal.FromProblem(status, body, retryAfter, fromPreview: true);
    }

    public void Dispose() => _http.Dispose();

    private static async Task<byte[]> ReadBodyAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var buffer = new byte[MaxBodyBytes];
        var length = 0;
        int read;
        while (length < buffer.Length && (read = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false)) > 0)
        {
            length += read;
        }

        return buffer[..length];
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.AspNetCore.Http;

namespace WebSocketPool.Internal;

/// <summary>
/// Decides whether a browser's <c>Origin</c> may open a WebSocket (cross-site WebSocket hijacking: a browser sends the
/// user's cookies with any page's WebSocket). Origins are compared as the web does, on scheme, host and port, a
/// scheme's default port being the same as none. With no configured origins only the request's own origin passes: the
/// scheme the app sees (after <c>UseForwardedHeaders</c>, so a TLS-terminating proxy's <c>https</c> counts), its Host and
/// port. Configured origins must be plain <c>http</c>/<c>https</c> origins (no path, query or user); <c>*</c> allows any.
/// Requests without an Origin (non-browser clients) always pass; an Origin that is not a plain http(s) origin
/// (<c>null</c> from sandboxed or file pages, <c>ws://</c>, anything with a path) never does.
/// </summary>
/// <remarks>
/// The Host header is the client's to choose: a DNS-rebinding page sends its own host as both Host and Origin, which
/// matches. Host filtering (<c>AllowedHosts</c>) is the companion that refuses such a Host before the pool sees it.
/// </remarks>
internal sealed class OriginPolicy
{
    private readonly HashSet<WebOrigin> _allowed = [];
    private readonly bool _any;

    public OriginPolicy(IEnumerable<string> allowedOrigins)
    {
        foreach (var entry in allowedOrigins)
        {
            if (entry == "*")
            {
                _any = true;
            }
            else if (TryParse(entry, out var origin))
            {
                _allowed.Add(origin);
            }
        }
    }

    public bool IsAllowed(HttpRequest request)
    {
        var header = request.Headers.Origin.ToString();
        if (string.IsNullOrEmpty(header) || _any)
        {
            return true;
        }

        if (!TryParse(header, out var origin))
        {
            return false;
        }

        if (_allowed.Count > 0)
        {
            return _allowed.Contains(origin);
        }

        return request.Host.HasValue
            && TryParse(string.Concat(request.Scheme, "://", request.Host.ToUriComponent()), out var own)
            && origin == own;
    }

    /// <summary>
    /// Reads a serialized origin (<c>scheme://host[:port]</c>, a trailing <c>/</c> tolerated) into its comparable parts:
    /// lower-case scheme and host (IDN as punycode), and the port, the scheme's default when absent.
    /// </summary>
    public static bool TryParse(string? text, out WebOrigin origin)
    {
        origin = default;
        if (string.IsNullOrWhiteSpace(text)
            || !Uri.TryCreate(text, UriKind.Absolute, out var uri)
            || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            || uri.UserInfo.Length > 0
            || uri.PathAndQuery != "/"
            || uri.Fragment.Length > 0
            || text.EndsWith('?') || text.EndsWith('#'))
        {
            return false;
        }

        // Uri lower-cases scheme and host of http(s) URIs already.
        origin = new WebOrigin(uri.Scheme, uri.IdnHost, uri.Port);
        return true;
    }

    /// <summary>An origin's comparable parts.</summary>
    internal readonly record struct WebOrigin(string Scheme, string Host, int Port);
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Buffers;
using Microsoft.AspNetCore.Http;

namespace WebSocketPool.Internal;

/// <summary>
/// Chooses the WebSocket subprotocol of an upgrade from what the client offers (<c>Sec-WebSocket-Protocol</c>) and what the
/// pool speaks (<see cref="WebSocketPoolOptions.SubProtocols"/>): the first offer, in the client's order, that the pool
/// speaks. RFC 6455 leaves the choice to the server; the client's order is its preference, so it is the one honoured.
/// A request whose offers the pool speaks none of is refused before the upgrade rather than accepted without a
/// subprotocol, because browsers and <c>ClientWebSocket</c> fail a 101 that selects none of their offers, and would show
/// only close code 1006.
/// </summary>
internal sealed class SubProtocolSelector
{
    // RFC 7230 tchar: the characters of a token (RFC 6455 §4.1 names subprotocols as tokens).
    private static readonly SearchValues<char> s_tokenChars =
        SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    private readonly string[] _spoken;
    private readonly bool _required;
    private readonly bool _resume;

    public SubProtocolSelector(WebSocketPoolOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _spoken = [.. options.SubProtocols];
        _required = options.RequireSubProtocol;
        _resume = options.Resume.Enabled;
    }

    /// <summary>Gets the subprotocols the pool speaks, in configured order.</summary>
    public IReadOnlyList<string> Spoken => _spoken;

    /// <summary>Gets a value indicating whether <paramref name="name"/> is a valid subprotocol name: a non-empty token.</summary>
    public static bool IsToken(string? name) => !string.IsNullOrEmpty(name) && !name.AsSpan().ContainsAnyExcept(s_tokenChars);

    /// <summary>
    /// Selects for <paramref name="request"/>. An upgrade is held to every rule. A preview (a plain GET) is checked only
    /// when it carries <c>Sec-WebSocket-Protocol</c>: browsers cannot set that header on a <c>fetch</c>, so a preview
    /// without it says nothing about what the upgrade will offer, and a pool that requires a subprotocol still answers it.
    /// </summary>
    /// <param name="request">The request.</param>
    /// <param name="isUpgrade">Whether the request is a WebSocket upgrade.</param>
    /// <param name="selected">The subprotocol to answer with, or <see langword="null"/> for none.</param>
    /// <param name="refusal">Why the request is refused, or <see langword="null"/> when it may go on.</param>
    /// <returns><see langword="true"/> when the request may go on.</returns>
    public bool TrySelect(HttpRequest request, bool isUpgrade, out string? selected, out string? refusal)
    {
        ArgumentNullException.ThrowIfNull(request);
        var offered = request.HttpContext.WebSockets.WebSocketRequestedProtocols;
        if (!isUpgrade && offered.Count == 0)
        {
            selected = null;
            refusal = null;
            return true;
        }

        return TrySelect(offered, out selected, out refusal);
    }

    /// <summary>
    /// Selects from <paramref name="offered"/> (the request's <c>WebSocketRequestedProtocols</c>, in the client's order).
    /// </summary>
    /// <param name="offered">The subprotocols the client offered.</param>
    /// <param name="selected">The subprotocol to answer with, or <see langword="null"/> for none.</param>
    /// <param name="refusal">Why the request is refused, or <see langword="null"/> when it may go on.</param>
    /// <returns><see langword="true"/> when the request may go on (with <paramref name="selected"/>, possibly none).</returns>
    public bool TrySelect(IList<string> offered, out string? selected, out string? refusal)
    {
        ArgumentNullException.ThrowIfNull(offered);
        selected = null;
        refusal = null;
        if (offered.Count == 0)
        {
            if (!_required)
            {
                return true;
            }

            refusal = $"This endpoint requires a WebSocket subprotocol (Sec-WebSocket-Protocol): offer one of {List()}.";
            return false;
        }

        for (var i = 0; i < offered.Count; i++)
        {
            var offer = offered[i];

            // The resume protocol wraps the app's own (docs/resume-protocol.md): spoken when resume is on and the pool
            // speaks what it wraps, or, bare, when the pool speaks no subprotocol of its own.
            if (_resume && ResumeProtocol.TryParseOffer(offer, out var inner)
                && (inner is null ? _spoken.Length == 0 : Array.IndexOf(_spoken, inner) >= 0))
            {
                selected = offer;
                return true;
            }

            for (var j = 0; j < _spoken.Length; j++)
            {
                if (string.Equals(offer, _spoken[j], StringComparison.Ordinal))
                {
                    selected = _spoken[j];
                    return true;
                }
            }
        }

        refusal = _spoken.Length == 0
            ? "This endpoint speaks no WebSocket subprotocol: connect without Sec-WebSocket-Protocol."
            : $"None of the subprotocols offered (Sec-WebSocket-Protocol) is spoken here; offer one of {List()}.";
        return false;
    }

    private string List() => string.Join(", ", _spoken.Select(static s => "'" + s + "'"));
}

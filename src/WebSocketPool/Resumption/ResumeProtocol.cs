// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Internal;

/// <summary>
/// The names of the resume protocol (<c>docs/resume-protocol.md</c>): the subprotocol <c>websocketpool.resume.v1</c>,
/// alone or composed with the app's own as <c>websocketpool.resume.v1+chat.v2</c>, and the query parameters of a
/// reconnect.
/// </summary>
internal static class ResumeProtocol
{
    /// <summary>The subprotocol, alone (for a pool that speaks none of its own).</summary>
    public const string Name = "websocketpool.resume.v1";

    /// <summary>The query parameter carrying the session token on a reconnect.</summary>
    public const string TokenParameter = "ws-resume-token";

    /// <summary>The query parameter carrying the last sequence the client received.</summary>
    public const string LastParameter = "ws-resume-last";

    private const string Prefix = Name + "+";

    /// <summary>Gets a value indicating whether <paramref name="subProtocol"/> (as selected in the 101) is the resume protocol.</summary>
    public static bool IsResume(string? subProtocol) =>
        subProtocol is not null && (subProtocol == Name || subProtocol.StartsWith(Prefix, StringComparison.Ordinal));

    /// <summary>
    /// The app's subprotocol inside <paramref name="subProtocol"/>: the part after <c>+</c>, <see langword="null"/> for the
    /// bare resume protocol, or <paramref name="subProtocol"/> itself when it is not the resume protocol.
    /// </summary>
    public static string? AppSubProtocol(string? subProtocol)
    {
        if (subProtocol is null || !IsResume(subProtocol))
        {
            return subProtocol;
        }

        return subProtocol.Length > Prefix.Length ? subProtocol[Prefix.Length..] : null;
    }

    /// <summary>
    /// Reads an offer: <see langword="true"/> when <paramref name="offer"/> is the resume protocol, with the app's
    /// subprotocol it wraps in <paramref name="inner"/> (<see langword="null"/> for the bare name).
    /// </summary>
    public static bool TryParseOffer(string offer, out string? inner)
    {
        inner = null;
        if (string.Equals(offer, Name, StringComparison.Ordinal))
        {
            return true;
        }

        if (offer.Length > Prefix.Length && offer.StartsWith(Prefix, StringComparison.Ordinal))
        {
            inner = offer[Prefix.Length..];
            return true;
        }

        return false;
    }
}

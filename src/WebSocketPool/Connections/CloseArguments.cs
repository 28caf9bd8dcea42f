// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Text;

namespace WebSocketPool.Internal;

/// <summary>
/// Checks a close code and reason where they enter the public API, before anything is queued: a code or reason that
/// .NET refuses at <c>CloseOutputAsync</c> (or that a peer must fail the connection for) is the caller's mistake, and
/// it is reported to the caller rather than discovered later on the connection's own write loop.
/// </summary>
internal static class CloseArguments
{
    /// <summary>The longest close reason a close frame can carry: 125 payload bytes less the 2-byte code.</summary>
    public const int MaxReasonBytes = 123;

    /// <summary>The reason sent with 4001 to a connection replaced by a newer one of its user, on this node or across a cluster.</summary>
    public const string EvictedReason = "Replaced by a newer connection.";

    /// <summary>
    /// True for the codes an application may send (RFC 6455 §7.4): 1000–1003 and 1007–1014 from the registry, and
    /// 3000–4999 for libraries and applications. 1004 is reserved; 1005, 1006 and 1015 must never be sent; 1016–2999
    /// are reserved for future standards; 0–999 and 5000+ are not close codes.
    /// </summary>
    public static bool IsSendable(int closeCode) =>
        closeCode is (>= 1000 and <= 1003) or (>= 1007 and <= 1014) or (>= 3000 and <= 4999);

    /// <summary>True when the reason fits in a close frame (every UTF-16 char takes at least one UTF-8 byte).</summary>
    public static bool IsValidReason(string? reason) =>
        reason is null || (reason.Length <= MaxReasonBytes && Encoding.UTF8.GetByteCount(reason) <= MaxReasonBytes);

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> for a code or reason that cannot go out in a close frame.</summary>
    public static void ThrowIfInvalid(int closeCode, string? reason)
    {
        if (!IsSendable(closeCode))
        {
            throw new ArgumentOutOfRangeException(nameof(closeCode), closeCode,
                "A close code must be 1000–1003, 1007–1014 or 3000–4999 (1004–1006 and 1015 are reserved, 1016–2999 are not assigned).");
        }

        if (!IsValidReason(reason))
        {
            throw new ArgumentOutOfRangeException(nameof(reason), reason,
                $"A close reason may be at most {MaxReasonBytes} UTF-8 bytes long.");
        }
    }
}

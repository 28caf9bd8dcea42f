// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Security.Cryptography;
using Microsoft.AspNetCore.DataProtection;

namespace WebSocketPool.Internal;

/// <summary>
/// Issues and reads the session tokens of one pool (<c>docs/resume-protocol.md</c>, section 5) with ASP.NET Core Data
/// Protection: a token cannot be forged or read, and it names the user it was issued to, the connection and a random
/// secret that changes on every resume, so it resumes at most once. It carries no expiry: the session's life is the
/// server's hold, not a clock at issuance (a time-limited protector would expire the token of a connection that simply
/// lived long before it dropped).
/// </summary>
internal sealed class ResumeTokens(IDataProtectionProvider provider, string poolName)
{
    private const char Separator = '\n';

    private readonly IDataProtector _protector = provider.CreateProtector("WebSocketPool.Resume.v1", poolName);

    /// <summary>A new token for <paramref name="connectionId"/> of <paramref name="userKey"/>, and the secret it carries.</summary>
    public string Issue(string userKey, string connectionId, out string secret)
    {
        secret = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        return _protector.Protect(string.Join(Separator, connectionId, secret, userKey));
    }

    /// <summary>Reads <paramref name="token"/>; <see langword="false"/> when it was not issued by this pool's key ring.</summary>
    public bool TryRead(string token, out string connectionId, out string secret, out string userKey)
    {
        connectionId = secret = userKey = string.Empty;
        string plain;
        try
        {
            plain = _protector.Unprotect(token);
        }
        catch (CryptographicException)
        {
            return false;
        }
        catch (FormatException)
        {
            return false;
        }

        // The user key comes last: it is the one part that may contain anything, the separator included.
        var first = plain.IndexOf(Separator, StringComparison.Ordinal);
        var second = first < 0 ? -1 : plain.IndexOf(Separator, first + 1);
        if (second < 0)
        {
            return false;
        }

        connectionId = plain[..first];
        secret = plain[(first + 1)..second];
        userKey = plain[(second + 1)..];
        return true;
    }
}

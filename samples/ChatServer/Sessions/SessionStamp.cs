// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Security.Cryptography;
using Microsoft.AspNetCore.WebUtilities;

namespace ChatServer.Sessions;

/// <summary>Session stamps: 128 random bits, carried in the auth cookie as the <see cref="ClaimType"/> claim.</summary>
internal static class SessionStamp
{
    /// <summary>The claim that carries the stamp in the cookie's ticket.</summary>
    public const string ClaimType = "chat:session-stamp";

    public static string New() => WebEncoders.Base64UrlEncode(RandomNumberGenerator.GetBytes(16));
}

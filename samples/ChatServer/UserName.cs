// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace ChatServer;

/// <summary>
/// The rule for chat names, which are also the pool's user keys: 1–32 ASCII letters, digits, <c>_</c>, <c>-</c> or
/// <c>.</c>. ASCII only, so that no two names look alike (no Cyrillic "а" posing as a Latin "a", no invisible or
/// right-to-left characters). Names are case-sensitive.
/// </summary>
internal static class UserName
{
    public const int MaxLength = 32;

    /// <summary>Checks a name.</summary>
    /// <param name="name">The name to check.</param>
    /// <returns><see langword="null"/> when the name is valid, otherwise what is wrong with it.</returns>
    public static string? Validate(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return "Enter a name.";
        }

        if (name.Length > MaxLength)
        {
            return $"Use at most {MaxLength} characters.";
        }

        foreach (var c in name)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('_' or '-' or '.'))
            {
                return "Use only the letters A–Z and a–z, the digits 0–9, “_”, “-” and “.”.";
            }
        }

        return null;
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace ChatServer.Sessions;

/// <summary>
/// The server-side half of a session: each user's current session stamp. A sign-in puts the user's current stamp (or a
/// new one) into the cookie; a sign-out replaces the stored stamp, so that every cookie issued before it, copies
/// included, is refused from then on (<see cref="ChatCookieEvents.ValidatePrincipal"/>). Only sign-outs write: a user
/// with no stored stamp has never signed out (within <see cref="SessionSettings.Lifetime"/>), and any stamp of
/// theirs is current. So the store holds at most one entry per user who signed out in the last session lifetime, and
/// anonymous sign-ins, which anyone can make, never grow it.
/// </summary>
internal interface ISessionStampStore
{
    /// <summary>Gets the user's current stamp, or <see langword="null"/> when none is stored (every stamp of theirs is current).</summary>
    /// <exception cref="Exception">The store could not be read; the caller must then treat the session as invalid.</exception>
    ValueTask<string?> GetAsync(string user, CancellationToken cancellationToken);

    /// <summary>
    /// Stores a new stamp for the user, kept for <see cref="SessionSettings.Lifetime"/> (after which every cookie
    /// carrying an older stamp has expired by itself): every session issued before this call is refused from now on.
    /// </summary>
    ValueTask RevokeAsync(string user, CancellationToken cancellationToken);
}

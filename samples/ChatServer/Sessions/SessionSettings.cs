// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace ChatServer.Sessions;

/// <summary>
/// How long a session lives: the auth cookie's lifetime (sliding: a request in its second half renews it), and so also
/// how long a sign-out must be remembered (a cookie of the revoked session cannot live longer). With
/// <see cref="WebSocketPool.WebSocketPoolOptions.CloseOnAuthenticationExpiration"/> on, a socket is closed with 4005 when
/// the cookie it was opened with expires. From <c>Chat:SessionLifetime</c>; 8 hours by default.
/// </summary>
internal sealed record SessionSettings(TimeSpan Lifetime)
{
    public const string ConfigurationKey = "Chat:SessionLifetime";

    public static readonly TimeSpan DefaultLifetime = TimeSpan.FromHours(8);

    public static SessionSettings From(IConfiguration configuration)
    {
        var lifetime = configuration.GetValue(ConfigurationKey, DefaultLifetime);
        return lifetime > TimeSpan.Zero
            ? new SessionSettings(lifetime)
            : throw new InvalidOperationException($"{ConfigurationKey} must be a positive time span such as 08:00:00, not '{configuration[ConfigurationKey]}'.");
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Client;

/// <summary>
/// The server refused an attempt before the upgrade. The pool explains a refusal in a problem+json body (<c>reason</c>,
/// <c>limit</c>, <c>current</c>) that only the preview can read; a refused handshake tells just its status and headers.
/// </summary>
/// <param name="statusCode">The HTTP status (401, 403, 429, 503, ...).</param>
/// <param name="reason">The pool's reason (<c>user_limit</c>, <c>rate_limited</c>, <c>draining</c>, ...), if known.</param>
/// <param name="limit">The limit that was reached, if the body said.</param>
/// <param name="current">The count against that limit, if the body said.</param>
/// <param name="retryAfter">The server's <c>Retry-After</c>, if it sent one.</param>
/// <param name="detail">The body's <c>detail</c>, if known.</param>
/// <param name="closeClass">What the client does next: terminal (401, 403) or backoff.</param>
/// <param name="fromPreview">Whether the preview (rather than the handshake) was refused.</param>
public sealed class WebSocketPoolRefusedEventArgs(
    int statusCode, string? reason, int? limit, int? current, TimeSpan? retryAfter, string? detail, WebSocketPoolCloseClass closeClass, bool fromPreview)
    : EventArgs
{
    /// <summary>Gets the HTTP status.</summary>
    public int StatusCode { get; } = statusCode;

    /// <summary>Gets the pool's reason (the problem body's <c>reason</c>), or <see langword="null"/> when only the handshake answered.</summary>
    public string? Reason { get; } = reason;

    /// <summary>Gets the limit that was reached, or <see langword="null"/>.</summary>
    public int? Limit { get; } = limit;

    /// <summary>Gets the count against <see cref="Limit"/>, or <see langword="null"/>.</summary>
    public int? Current { get; } = current;

    /// <summary>Gets the server's <c>Retry-After</c>, or <see langword="null"/>. The next attempt waits at least this long.</summary>
    public TimeSpan? RetryAfter { get; } = retryAfter;

    /// <summary>Gets the problem body's <c>detail</c>, or <see langword="null"/>.</summary>
    public string? Detail { get; } = detail;

    /// <summary>Gets what the client does next: <see cref="WebSocketPoolCloseClass.Terminal"/> or <see cref="WebSocketPoolCloseClass.Backoff"/>.</summary>
    public WebSocketPoolCloseClass CloseClass { get; } = closeClass;

    /// <summary>Gets a value indicating whether the preview (plain GET), rather than the handshake, was refused.</summary>
    public bool FromPreview { get; } = fromPreview;
}

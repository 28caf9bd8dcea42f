// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Client.Internal;

/// <summary>
/// Computes the wait before a reconnect attempt. Backoff is exponential with full jitter (a uniform draw between zero
/// and the capped exponential step, so that clients cut off together spread out), never shorter than the server's
/// <c>Retry-After</c>; prompt is a uniform draw up to a short maximum.
/// </summary>
internal static class ReconnectDelay
{
    /// <param name="closeClass">Backoff or prompt.</param>
    /// <param name="attempt">The attempt about to be made, from 1 (the first retry after a connection was lost or refused).</param>
    /// <param name="retryAfter">The server's <c>Retry-After</c>, a floor for the delay.</param>
    /// <param name="settings">The client's delays.</param>
    /// <param name="draw">A uniform draw in [0, 1).</param>
    public static TimeSpan Compute(WebSocketPoolCloseClass closeClass, int attempt, TimeSpan? retryAfter, ReconnectSettings settings, double draw)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(attempt, 1);
        draw = Math.Clamp(draw, 0, 1);
        TimeSpan delay;
        if (closeClass == WebSocketPoolCloseClass.Prompt)
        {
            delay = settings.PromptMaxDelay * draw;
        }
        else
        {
            // 2^(attempt-1) steps, capped before it can overflow.
            var exponent = Math.Min(attempt - 1, 30);
            var step = Math.Min(settings.BaseDelay.Ticks * Math.Pow(2, exponent), settings.MaxDelay.Ticks);
            delay = TimeSpan.FromTicks((long)(step * draw));
        }

        return retryAfter is { } floor && floor > delay ? floor : delay;
    }
}

/// <summary>The delays of <see cref="ReconnectDelay"/>, taken from the client's options.</summary>
internal readonly record struct ReconnectSettings(TimeSpan BaseDelay, TimeSpan MaxDelay, TimeSpan PromptMaxDelay);

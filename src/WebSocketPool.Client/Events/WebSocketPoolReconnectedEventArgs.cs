// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Client;

/// <summary>The client is connected again after a lost connection or a refusal.</summary>
/// <param name="attempts">The attempts it took, from 1.</param>
/// <param name="subProtocol">The subprotocol the server chose, if any.</param>
public sealed class WebSocketPoolReconnectedEventArgs(int attempts, string? subProtocol) : EventArgs
{
    /// <summary>Gets the attempts it took, from 1.</summary>
    public int Attempts { get; } = attempts;

    /// <summary>Gets the subprotocol the server chose, or <see langword="null"/>.</summary>
    public string? SubProtocol { get; } = subProtocol;

    /// <summary>
    /// Gets a value indicating whether the connection took up the previous one's session (the resume protocol,
    /// <see cref="WebSocketPoolClientOptions.Resume"/>): the messages sent meanwhile arrive in order, none twice, so the app
    /// need not resynchronise. <see langword="false"/> for a new session.
    /// </summary>
    public bool Resumed { get; init; }
}

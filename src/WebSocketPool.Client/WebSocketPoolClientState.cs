// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Client;

/// <summary>Where a <see cref="WebSocketPoolClient"/> is in its life.</summary>
public enum WebSocketPoolClientState
{
    /// <summary>Created and not started yet.</summary>
    Created = 0,

    /// <summary>Making its first connection (<see cref="WebSocketPoolClient.StartAsync"/> has not completed yet).</summary>
    Connecting = 1,

    /// <summary>Connected: sends are written and messages arrive.</summary>
    Connected = 2,

    /// <summary>Waiting before, or making, another attempt after a connection was lost or refused; sends are queued.</summary>
    Reconnecting = 3,

    /// <summary>Closed for good (terminal close or refusal, attempts used up, stopped, or disposed); see <see cref="WebSocketPoolClient.Closed"/>.</summary>
    Closed = 4,
}

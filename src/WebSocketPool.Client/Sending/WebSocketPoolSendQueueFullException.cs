// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Client;

/// <summary>
/// Thrown by <see cref="WebSocketPoolClient.SendAsync(ReadOnlyMemory{byte}, System.Net.WebSockets.WebSocketMessageType, CancellationToken)"/>
/// when the message would take the send queue past <see cref="WebSocketPoolClientOptions.SendQueueCapacity"/> messages or
/// <see cref="WebSocketPoolClientOptions.SendQueueMaxBytes"/> bytes: the network (or a reconnect) is slower than the
/// sender. The message was not queued; nothing already queued was dropped.
/// </summary>
public sealed class WebSocketPoolSendQueueFullException : InvalidOperationException
{
    /// <summary>Initializes a new instance of the <see cref="WebSocketPoolSendQueueFullException"/> class.</summary>
    public WebSocketPoolSendQueueFullException()
        : base("The send queue is full.")
    {
    }

    /// <summary>Initializes a new instance of the <see cref="WebSocketPoolSendQueueFullException"/> class.</summary>
    /// <param name="message">The message.</param>
    public WebSocketPoolSendQueueFullException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="WebSocketPoolSendQueueFullException"/> class.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public WebSocketPoolSendQueueFullException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

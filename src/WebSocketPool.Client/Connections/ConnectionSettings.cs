// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using System.Net.WebSockets;

namespace WebSocketPool.Client.Internal;

/// <summary>What every handshake of one client is made with: a copy of its options, taken when the client was created.</summary>
internal sealed record ConnectionSettings(
    Uri Uri,
    IReadOnlyList<string> SubProtocols,
    IReadOnlyDictionary<string, string> Headers,
    CookieContainer? Cookies,
    ICredentials? Credentials,
    Action<ClientWebSocketOptions>? Configure,
    TimeSpan KeepAliveInterval,
    TimeSpan KeepAliveTimeout,
    TimeSpan ConnectTimeout,
    TimeSpan CloseTimeout,
    int MaxReceiveMessageBytes,
    ResumeState? Resume = null);

/// <summary>How a connection ended.</summary>
/// <param name="CloseStatus">The close code, or <see langword="null"/> when the connection ended without one (1006).</param>
/// <param name="Description">The close description or the error, in words.</param>
/// <param name="Error">The error that ended it, if any.</param>
/// <param name="ByApplication">Whether the application's stop ended it.</param>
internal readonly record struct ConnectionEnd(int? CloseStatus, string Description, Exception? Error, bool ByApplication);

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.AspNetCore.Http;

namespace WebSocketPool.Internal;

/// <summary>
/// What the pool answers in the 101: the selected subprotocol, keep-alive, and permessage-deflate when
/// <see cref="WebSocketPoolOptions.Compression"/> allows it (ASP.NET Core negotiates it only with clients that offer it).
/// </summary>
internal static class PoolAcceptContext
{
    public static WebSocketAcceptContext Create(WebSocketPoolOptions options, string? subProtocol)
    {
        ArgumentNullException.ThrowIfNull(options);
        var compression = options.Compression;
        return new WebSocketAcceptContext
        {
            SubProtocol = subProtocol,
            KeepAliveInterval = options.KeepAliveInterval,
            KeepAliveTimeout = options.KeepAliveInterval > TimeSpan.Zero ? options.KeepAliveTimeout : Timeout.InfiniteTimeSpan,
            DangerousEnableCompression = compression.Enabled,
            ServerMaxWindowBits = compression.ServerMaxWindowBits,
            DisableServerContextTakeover = compression.DisableServerContextTakeover,
        };
    }
}

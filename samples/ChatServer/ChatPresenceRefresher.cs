// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Options;
using WebSocketPool.Redis;

namespace ChatServer;

/// <summary>
/// On a node of a cluster: every <see cref="RedisWebSocketPoolOptions.LeaseTtl"/>, sends the cluster's presence list to
/// this node's connections again, so that their panels catch up with what no join or leave announced: a list from
/// another node that raced this node's own, or a node that died, whose users drop out when their leases expire.
/// </summary>
internal sealed partial class ChatPresenceRefresher(
    ChatPresence presence,
    IOptions<RedisWebSocketPoolOptions> options,
    TimeProvider timeProvider,
    ILogger<ChatPresenceRefresher> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.LeaseTtl, timeProvider);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await presence.RefreshAsync(stoppingToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // The next tick tries again; a failed refresh must not end the timer.
                    Log.RefreshFailed(logger, ex);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The host is stopping.
        }
    }

    private static partial class Log
    {
        [LoggerMessage(3, LogLevel.Warning, "Refreshing the presence list failed.", EventName = "ChatPresenceRefreshFailed")]
        public static partial void RefreshFailed(ILogger logger, Exception exception);
    }
}

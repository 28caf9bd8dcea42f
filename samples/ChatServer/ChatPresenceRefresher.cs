// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Options;
using WebSocketPool.Redis;

namespace ChatServer;

/// <summary>
/// On a node of a cluster: at start, reads the cluster's presence list and follows its changes
/// (<see cref="ChatPresence.StartWatchingAsync"/>); then every <see cref="RedisWebSocketPoolOptions.LeaseTtl"/> reads
/// the list again and sends it to this node's connections, so that their panels catch up with what no change
/// announced: a node that died, whose users drop out when their leases expire, or changes missed while this node could
/// not hear the bus.
/// </summary>
internal sealed partial class ChatPresenceRefresher(
    ChatPresence presence,
    IOptions<RedisWebSocketPoolOptions> options,
    TimeProvider timeProvider,
    ILogger<ChatPresenceRefresher> logger) : BackgroundService
{
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await presence.StartWatchingAsync(cancellationToken);
        await base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await presence.StopWatchingAsync();
    }

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

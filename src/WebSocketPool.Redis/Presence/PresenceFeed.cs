// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Buffers.Text;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace WebSocketPool.Redis.Internal;

/// <summary>
/// Hands the presence changes this node hears to the app's watchers, one change at a time, in the order Redis
/// published them. A change is published by <see cref="PresenceAnnouncer"/>'s script as <c>COUNT USER</c>: the user's
/// live connections across the cluster after the change (0 = gone offline), a space, then the user key.
/// </summary>
internal sealed partial class PresenceFeed(IOptions<WebSocketPoolOptions> poolOptions, ILogger<PresenceFeed> logger)
{
    private static readonly UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly Lock _lock = new();
    private Func<UserConnectionCount, ValueTask>[] _watchers = [];

    public int WatcherCount => Volatile.Read(ref _watchers).Length;

    public void Add(Func<UserConnectionCount, ValueTask> watcher)
    {
        lock (_lock)
        {
            _watchers = [.. _watchers, watcher];
        }
    }

    public void Remove(Func<UserConnectionCount, ValueTask> watcher)
    {
        lock (_lock)
        {
            var index = Array.IndexOf(_watchers, watcher);
            if (index >= 0)
            {
                _watchers = [.. _watchers[..index], .. _watchers[(index + 1)..]];
            }
        }
    }

    /// <summary>Decodes one change and gives it to every watcher; <see langword="false"/> when it is malformed.</summary>
    public async ValueTask<bool> DeliverAsync(byte[] data)
    {
        var space = Array.IndexOf(data, (byte)' ');
        if (space <= 0 || space == data.Length - 1 || !Utf8Parser.TryParse(data.AsSpan(0, space), out int count, out var read)
            || read != space || count < 0)
        {
            return false;
        }

        string user;
        try
        {
            user = s_strictUtf8.GetString(data, space + 1, data.Length - space - 1);
        }
        catch (ArgumentException)
        {
            return false;
        }

        var change = new UserConnectionCount(user, count, poolOptions.Value.MaxConnectionsPerUser);
        foreach (var watcher in Volatile.Read(ref _watchers))
        {
            try
            {
                await watcher(change).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // A watcher's failure is the app's; the next watcher and the next change go on.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Log.WatcherFailed(logger, ex);
            }
        }

        return true;
    }

    private static partial class Log
    {
        [LoggerMessage(251, LogLevel.Error, "A presence watcher failed on a change.", EventName = "RedisPresenceWatcherFailed")]
        public static partial void WatcherFailed(ILogger logger, Exception exception);
    }
}

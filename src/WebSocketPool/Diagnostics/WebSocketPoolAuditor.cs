// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace WebSocketPool.Internal;

/// <summary>
/// Runs the factory's self-audit every <see cref="WebSocketPoolOptions.AuditInterval"/> on <see cref="TimeProvider"/>.
/// Started by the pool's hosted service; <see cref="IsRunning"/> lets health report an audit that never started.
/// </summary>
internal sealed partial class WebSocketPoolAuditor(
    PooledWebSocketManagerFactory factory,
    IOptions<WebSocketPoolOptions> options,
    TimeProvider timeProvider,
    ILogger<WebSocketPoolAuditor> logger) : IDisposable
{
    private ITimer? _timer;
    private int _running;

    public bool IsRunning => _timer is not null;

    public AuditResult LastResult { get; private set; }

    public long Runs { get; private set; }

    public void Start()
    {
        var interval = options.Value.AuditInterval;
        if (interval <= TimeSpan.Zero || _timer is not null)
        {
            return;
        }

        _timer = timeProvider.CreateTimer(static s => ((WebSocketPoolAuditor)s!).RunOnce(), this, interval, interval);
        Log.Started(logger, interval.TotalSeconds);
    }

    public void Stop()
    {
        _timer?.Dispose();
        _timer = null;
    }

    public AuditResult RunOnce()
    {
        if (Interlocked.Exchange(ref _running, 1) == 1)
        {
            return LastResult;
        }

        try
        {
            LastResult = factory.Audit();
            Runs++;
            return LastResult;
        }
#pragma warning disable CA1031 // An audit failure is reported, never allowed to kill the timer thread.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            SafeDiagnostics.Run(static (l, e) => Log.Failed(l, e), logger, ex);
            return LastResult;
        }
        finally
        {
            Volatile.Write(ref _running, 0);
        }
    }

    public void Dispose() => Stop();

    private static partial class Log
    {
        [LoggerMessage(30, LogLevel.Debug, "WebSocket pool self-audit started, every {IntervalSeconds} s.", EventName = "AuditStarted")]
        public static partial void Started(ILogger logger, double intervalSeconds);

        [LoggerMessage(31, LogLevel.Error, "WebSocket pool self-audit failed.", EventName = "AuditFailed")]
        public static partial void Failed(ILogger logger, Exception exception);
    }
}

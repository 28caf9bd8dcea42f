// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace WebSocketPool.Redis.Internal;

/// <summary>
/// The multiplexer (created here from <see cref="RedisWebSocketPoolOptions.Configuration"/>, or the app's own) and
/// whether Redis is answering. Availability turns false on a failed or timed-out operation or a lost interactive
/// connection, and true again on the next success; each turn is logged once.
/// </summary>
internal sealed partial class RedisConnection : IAsyncDisposable
{
    private readonly RedisWebSocketPoolOptions _options;
    private readonly RedisMultiplexerSource _source;
    private readonly RedisWebSocketPoolMetrics _metrics;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _connectLock = new(1, 1);
    private IConnectionMultiplexer? _multiplexer;
    private volatile bool _failed;

    public RedisConnection(IOptions<RedisWebSocketPoolOptions> options, RedisMultiplexerSource source, RedisWebSocketPoolMetrics metrics,
        PooledWebSocketManagerFactory factory, ILogger<RedisConnection> logger)
    {
        _options = options.Value;
        _source = source;
        _metrics = metrics;
        _logger = logger;
        Keys = new RedisKeys(_options.Prefix);
        NodeId = factory.NodeId;
    }

    /// <summary>Raised when the interactive connection comes back after a failure (not on the first connect).</summary>
    public event Action? Restored;

    /// <summary>Raised when the pub/sub (subscription) connection is lost; its subscriptions hear nothing until it is back.</summary>
    public event Action? SubscriptionLost;

    /// <summary>Raised when the pub/sub connection is back (the client then subscribes its channels again by itself).</summary>
    public event Action? SubscriptionRestored;

    public RedisKeys Keys { get; }

    public string NodeId { get; }

    public IConnectionMultiplexer? Multiplexer => Volatile.Read(ref _multiplexer);

    public bool IsAvailable => !_failed && Multiplexer is { IsConnected: true };

    /// <summary>Connects (once). With an app-supplied multiplexer this only hooks its events.</summary>
    public async Task<IConnectionMultiplexer> ConnectAsync()
    {
        if (Multiplexer is { } existing)
        {
            return existing;
        }

        await _connectLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (Multiplexer is { } raced)
            {
                return raced;
            }

            IConnectionMultiplexer multiplexer;
            if (_source.Multiplexer is { } supplied)
            {
                multiplexer = supplied;
            }
            else if (_source.Shared is { } shared)
            {
                multiplexer = await shared.ConnectAsync().ConfigureAwait(false);
            }
            else
            {
                var configuration = ConfigurationOptions.Parse(_options.Configuration!);

                // A node must start, and keep serving on its own limits, while Redis is down; and commands must fail
                // at once rather than queue behind a dead connection, so that the failure policy can act.
                configuration.AbortOnConnectFail = false;
                configuration.BacklogPolicy = BacklogPolicy.FailFast;
                configuration.ClientName ??= "websocketpool-" + NodeId;
                multiplexer = await ConnectionMultiplexer.ConnectAsync(configuration).ConfigureAwait(false);
            }

            multiplexer.ConnectionFailed += OnConnectionFailed;
            multiplexer.ConnectionRestored += OnConnectionRestored;
            Volatile.Write(ref _multiplexer, multiplexer);
            if (multiplexer.IsConnected)
            {
                Log.Connected(_logger, _options.Prefix);
            }
            else
            {
                MarkFailed("connect", null);
            }

            return multiplexer;
        }
        finally
        {
            _connectLock.Release();
        }
    }

    public bool TryGetDatabase(out IDatabase database)
    {
        if (Multiplexer is { IsConnected: true } multiplexer)
        {
            database = multiplexer.GetDatabase();
            return true;
        }

        database = null!;
        return false;
    }

    public void MarkFailed(string operation, Exception? exception)
    {
        _metrics.Error(operation);
        if (!_failed)
        {
            _failed = true;
            Log.Unavailable(_logger, operation, _options.FailurePolicy, exception);
        }
    }

    public void MarkAvailable()
    {
        if (_failed)
        {
            _failed = false;
            Log.Available(_logger);
        }
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        if (e.ConnectionType == ConnectionType.Interactive)
        {
            MarkFailed("connection", e.Exception);
        }
        else if (e.ConnectionType == ConnectionType.Subscription)
        {
            Raise(SubscriptionLost);
        }
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        if (e.ConnectionType == ConnectionType.Subscription)
        {
            Raise(SubscriptionRestored);
            return;
        }

        if (e.ConnectionType != ConnectionType.Interactive)
        {
            return;
        }

        Log.Restored(_logger);
        try
        {
            Restored?.Invoke();
        }
#pragma warning disable CA1031 // A failing subscriber must not break the multiplexer's event thread.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.RestoreHandlerFailed(_logger, ex);
        }
    }

    private void Raise(Action? handlers)
    {
        try
        {
            handlers?.Invoke();
        }
#pragma warning disable CA1031 // A failing subscriber must not break the multiplexer's event thread.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.RestoreHandlerFailed(_logger, ex);
        }
    }

    public async ValueTask DisposeAsync()
    {
        var multiplexer = Interlocked.Exchange(ref _multiplexer, null);
        if (multiplexer is not null)
        {
            multiplexer.ConnectionFailed -= OnConnectionFailed;
            multiplexer.ConnectionRestored -= OnConnectionRestored;
            if (_source.Multiplexer is null && _source.Shared is null)
            {
                await multiplexer.CloseAsync().ConfigureAwait(false);
                multiplexer.Dispose();
            }
        }

        _connectLock.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(201, LogLevel.Information, "Connected to Redis for WebSocket scale-out (prefix '{Prefix}').", EventName = "RedisConnected")]
        public static partial void Connected(ILogger logger, string prefix);

        [LoggerMessage(202, LogLevel.Warning, "Redis is unavailable ({Operation} failed); failure policy {Policy} is in force until it answers again.", EventName = "RedisUnavailable")]
        public static partial void Unavailable(ILogger logger, string operation, RedisFailurePolicy policy, Exception? exception);

        [LoggerMessage(203, LogLevel.Information, "Redis answers again; cluster-wide limits are back in force.", EventName = "RedisAvailable")]
        public static partial void Available(ILogger logger);

        [LoggerMessage(204, LogLevel.Information, "The Redis connection was restored; re-registering this node's leases.", EventName = "RedisRestored")]
        public static partial void Restored(ILogger logger);

        [LoggerMessage(205, LogLevel.Error, "Handling the restored Redis connection failed.", EventName = "RedisRestoreFailed")]
        public static partial void RestoreHandlerFailed(ILogger logger, Exception exception);
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace WebSocketPool.Redis.Internal;

/// <summary>
/// Hands publications (and presence announcements) to Redis with at most
/// <see cref="RedisWebSocketPoolOptions.MaxInFlightPublishes"/> of them waiting for Redis's answer. When Redis is slow
/// the answers stop coming, the limit is reached and every further publication is refused at once, without queueing:
/// the caller learns it from the result, and memory holds at most the limit's worth of messages, however many sends
/// the app makes. Capacity comes back as Redis answers (or as the client's own timeout fails what it never answered).
/// </summary>
internal sealed partial class BusPublisher
{
    private readonly RedisConnection _connection;
    private readonly RedisWebSocketPoolMetrics _metrics;
    private readonly ILogger _logger;
    private readonly Action<Task, object?> _completed;
    private int _inFlight;
    private int _highWater;
    private int _overloaded;

    public BusPublisher(RedisConnection connection, RedisWebSocketPoolMetrics metrics, IOptions<RedisWebSocketPoolOptions> options, ILogger<BusPublisher> logger)
    {
        _connection = connection;
        _metrics = metrics;
        _logger = logger;
        Capacity = options.Value.MaxInFlightPublishes;
        _completed = (task, operation) => Completed(task, (string)operation!);
    }

    /// <summary>Gets the most operations allowed to wait for Redis at once.</summary>
    public int Capacity { get; }

    /// <summary>Gets how many operations wait for Redis's answer now.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Gets the most that ever waited at once (for tests and diagnostics).</summary>
    public int HighWater => Volatile.Read(ref _highWater);

    /// <summary>Publishes without waiting for the answer; <see langword="false"/> when it was not handed to Redis.</summary>
    public bool TryPublish(string channel, byte[] data) => TryPublish(channel, data, out _);

    /// <summary>
    /// Publishes and waits up to <paramref name="timeout"/> for how many subscribers Redis delivered it to; 0 when it
    /// was not handed to Redis (unavailable, or the limit reached: answered at once) or Redis did not answer in time.
    /// </summary>
    public async Task<long> PublishAsync(string channel, byte[] data, TimeSpan timeout, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        if (!TryPublish(channel, data, out var answer))
        {
            return 0;
        }

        try
        {
            var receivers = await answer.WaitAsync(timeout, timeProvider, cancellationToken).ConfigureAwait(false);
            _connection.MarkAvailable();
            return receivers;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            _connection.MarkFailed("publish", ex);
            return 0;
        }
    }

    /// <summary>Starts another bounded operation (a presence announcement) without waiting; <see langword="false"/> when refused.</summary>
    public bool TryRun(string operation, Func<IDatabase, Task> start)
    {
        if (!_connection.TryGetDatabase(out var database))
        {
            _metrics.Error(operation);
            return false;
        }

        if (!TryEnter())
        {
            return false;
        }

        Task task;
        try
        {
            task = start(database);
        }
        catch (RedisException ex)
        {
            Exit();
            _connection.MarkFailed(operation, ex);
            return false;
        }

        Track(task, operation);
        return true;
    }

    private bool TryPublish(string channel, byte[] data, out Task<long> answer)
    {
        answer = null!;
        if (_connection.Multiplexer is not { IsConnected: true } multiplexer)
        {
            _connection.MarkFailed("publish", null);
            return false;
        }

        if (!TryEnter())
        {
            return false;
        }

        try
        {
            answer = multiplexer.GetSubscriber().PublishAsync(RedisChannel.Literal(channel), data);
        }
        catch (RedisException ex)
        {
            Exit();
            _connection.MarkFailed("publish", ex);
            return false;
        }

        _metrics.Published(data.Length);
        Track(answer, "publish");
        return true;
    }

    private bool TryEnter()
    {
        var current = Volatile.Read(ref _inFlight);
        while (current < Capacity)
        {
            var seen = Interlocked.CompareExchange(ref _inFlight, current + 1, current);
            if (seen == current)
            {
                RaiseHighWater(current + 1);
                return true;
            }

            current = seen;
        }

        _metrics.PublishRejected();
        if (Interlocked.Exchange(ref _overloaded, 1) == 0)
        {
            Log.CapacityReached(_logger, Capacity);
        }

        return false;
    }

    private void RaiseHighWater(int value)
    {
        var high = Volatile.Read(ref _highWater);
        while (value > high)
        {
            var seen = Interlocked.CompareExchange(ref _highWater, value, high);
            if (seen == high)
            {
                return;
            }

            high = seen;
        }
    }

    private void Exit()
    {
        // Logged back only once half the capacity is free again, so a flood at the limit does not flip the log each time.
        if (Interlocked.Decrement(ref _inFlight) <= Capacity / 2 && Volatile.Read(ref _overloaded) == 1
            && Interlocked.Exchange(ref _overloaded, 0) == 1)
        {
            Log.CapacityBack(_logger, Capacity);
        }
    }

    private void Track(Task task, string operation)
    {
        if (task.IsCompleted)
        {
            Completed(task, operation);
            return;
        }

        task.ContinueWith(_completed, operation, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private void Completed(Task task, string operation)
    {
        Exit();
        if (task.IsFaulted)
        {
            // Observed here, so a publication nobody awaits never surfaces as an unobserved exception.
            _connection.MarkFailed(operation, task.Exception!.InnerException);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(231, LogLevel.Warning, "{Capacity} publications wait for Redis: further sends to other nodes are refused at once until it answers.", EventName = "RedisPublishCapacityReached")]
        public static partial void CapacityReached(ILogger logger, int capacity);

        [LoggerMessage(232, LogLevel.Information, "Redis answers publications again: at most half of {Capacity} wait.", EventName = "RedisPublishCapacityBack")]
        public static partial void CapacityBack(ILogger logger, int capacity);
    }
}

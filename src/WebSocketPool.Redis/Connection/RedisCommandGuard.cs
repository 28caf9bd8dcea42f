// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;
using StackExchange.Redis;

namespace WebSocketPool.Redis.Internal;

/// <summary>
/// Runs the scripts a handshake waits for (admission, preview, presence) behind a circuit breaker and a timeout (Polly),
/// so that while Redis is slow or away each handshake does not wait <see cref="RedisWebSocketPoolOptions.OperationTimeout"/>:
/// after repeated failures the circuit opens and every call answers "unavailable" at once (the failure policy applies)
/// until <see cref="RedisWebSocketPoolOptions.BreakDuration"/> has passed and a probe succeeds, or until the node's
/// heartbeat reaches Redis again.
/// </summary>
internal sealed partial class RedisCommandGuard
{
    private readonly RedisConnection _connection;
    private readonly RedisWebSocketPoolMetrics _metrics;
    private readonly ResiliencePipeline _pipeline;
    private readonly CircuitBreakerManualControl _control = new();
    private readonly CircuitBreakerStateProvider _state = new();
    private readonly ILogger _logger;

    public RedisCommandGuard(RedisConnection connection, RedisWebSocketPoolMetrics metrics, IOptions<RedisWebSocketPoolOptions> options,
        TimeProvider timeProvider, ILogger<RedisCommandGuard> logger)
    {
        _connection = connection;
        _metrics = metrics;
        _logger = logger;
        var value = options.Value;
        _pipeline = new ResiliencePipelineBuilder { TimeProvider = timeProvider }
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                FailureRatio = 0.5,
                MinimumThroughput = 4,
                SamplingDuration = TimeSpan.FromSeconds(10),
                BreakDuration = value.BreakDuration,
                ManualControl = _control,
                StateProvider = _state,
                ShouldHandle = new PredicateBuilder().Handle<RedisException>().Handle<TimeoutException>().Handle<TimeoutRejectedException>(),
                OnOpened = args =>
                {
                    _metrics.CircuitOpened();
                    Log.CircuitOpened(_logger, args.BreakDuration);
                    return ValueTask.CompletedTask;
                },
                OnClosed = _ =>
                {
                    Log.CircuitClosed(_logger);
                    return ValueTask.CompletedTask;
                },
            })
            .AddTimeout(value.OperationTimeout)
            .Build();
        metrics.ObserveCircuit(() => IsOpen);
    }

    /// <summary>Gets a value indicating whether the circuit is open: calls answer "unavailable" without asking Redis.</summary>
    public bool IsOpen => _state.CircuitState is CircuitState.Open or CircuitState.Isolated;

    /// <summary>
    /// Runs <paramref name="script"/>; <see langword="null"/> when Redis is not connected, the circuit is open, or the
    /// call failed or timed out (each counted under <paramref name="operation"/>). Throws only for cancellation by the caller.
    /// </summary>
    public async ValueTask<RedisResult?> TryEvaluateAsync(string operation, string script, RedisValue[] args, CancellationToken cancellationToken)
    {
        if (!_connection.TryGetDatabase(out var database))
        {
            _connection.MarkFailed(operation, null);
            return null;
        }

        try
        {
            var result = await _pipeline.ExecuteAsync(
                static async (state, token) => await state.database.ScriptEvaluateAsync(state.script, state.keys, state.args)
                    .WaitAsync(token).ConfigureAwait(false),
                (database, script, keys: _connection.Keys.Routing, args),
                cancellationToken).ConfigureAwait(false);
            _connection.MarkAvailable();
            return result;
        }
        catch (BrokenCircuitException)
        {
            _metrics.ShortCircuited();
            return null;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or TimeoutRejectedException)
        {
            _connection.MarkFailed(operation, ex);
            return null;
        }
    }

    /// <summary>The node's heartbeat reached Redis: close an open circuit rather than wait out the break.</summary>
    public async Task ConfirmAvailableAsync()
    {
        if (_state.CircuitState != CircuitState.Closed)
        {
            await _control.CloseAsync().ConfigureAwait(false);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(241, LogLevel.Warning, "Redis keeps failing: the circuit is open for {BreakDuration}; the failure policy answers without asking Redis.", EventName = "RedisCircuitOpened")]
        public static partial void CircuitOpened(ILogger logger, TimeSpan breakDuration);

        [LoggerMessage(242, LogLevel.Information, "Redis answers again: the circuit is closed.", EventName = "RedisCircuitClosed")]
        public static partial void CircuitClosed(ILogger logger);
    }
}

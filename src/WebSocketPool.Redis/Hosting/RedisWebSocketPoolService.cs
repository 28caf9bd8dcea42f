// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Hosting;

namespace WebSocketPool.Redis.Internal;

/// <summary>
/// Connects to Redis and subscribes when the host starts (a node starts, and serves on the failure policy, while Redis
/// is down), beats the node's heartbeat every third of the TTL from a <see cref="TimeProvider"/> timer and at once when
/// the connection is restored, and — after every hosted service has stopped, so after the pool has drained — releases
/// what is left and deletes the heartbeat, waiting for Redis to have processed both.
/// </summary>
internal sealed class RedisWebSocketPoolService(RedisConnection connection, RedisBus bus, RedisLeaseGate gate, NodeHeartbeat heartbeat, TimeProvider timeProvider)
    : IHostedLifecycleService, IDisposable
{
    private ITimer? _timer;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        connection.Restored += OnRestored;
        await connection.ConnectAsync().ConfigureAwait(false);
        await bus.EnsureSubscribedAsync().ConfigureAwait(false);
        await heartbeat.BeatAsync(cancellationToken).ConfigureAwait(false);
        var period = heartbeat.Period;
        _timer = timeProvider.CreateTimer(static s => ((RedisWebSocketPoolService)s!).Tick(), this, period, period);
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    // The heartbeat goes on while the pool drains (it stops in its own StopAsync, after or before this one).
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StoppedAsync(CancellationToken cancellationToken)
    {
        connection.Restored -= OnRestored;
        if (_timer is not null)
        {
            await _timer.DisposeAsync().ConfigureAwait(false);
        }

        await gate.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    public void Dispose() => _timer?.Dispose();

    private void Tick() => _ = RunAsync();

    private void OnRestored() => _ = RunAsync();

    private async Task RunAsync()
    {
        await bus.EnsureSubscribedAsync().ConfigureAwait(false);
        await heartbeat.BeatAsync().ConfigureAwait(false);
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Internal;

/// <summary>
/// Gives idle connections' send queues back: every <see cref="Period"/> it asks each open connection to give back a
/// queue that has sent nothing since the previous look (<see cref="IsolatedWebSocketManager.GiveBackIdleQueue"/>), so a
/// queue idle for one to two periods is freed, and a connection that sent once (a broadcast) and then went quiet holds
/// no more than one that never sent. Memory only: no send, close or release depends on it.
/// </summary>
internal sealed class SendQueueSweep : IDisposable
{
    /// <summary>How often the open connections are looked at.</summary>
    public static readonly TimeSpan Period = TimeSpan.FromSeconds(30);

    private readonly ConnectionRegistry _registry;
    private readonly ITimer _timer;

    public SendQueueSweep(ConnectionRegistry registry, TimeProvider timeProvider)
    {
        _registry = registry;
        _timer = timeProvider.CreateTimer(static s => ((SendQueueSweep)s!).Run(), this, Period, Period);
    }

    /// <summary>One look at every open connection.</summary>
    /// <returns>How many queues were given back.</returns>
    public int Run()
    {
        var givenBack = 0;
        foreach (var manager in _registry.Slots)
        {
            if (manager is not null && manager.GiveBackIdleQueue())
            {
                givenBack++;
            }
        }

        return givenBack;
    }

    public void Dispose() => _timer.Dispose();
}

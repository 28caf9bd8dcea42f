// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace LoadHarness.Client;

/// <summary>Counts messages delivered across connections and completes a task when a target is reached.</summary>
internal sealed class DeliveryCounter
{
    private long _count;
    private long _target = long.MaxValue;
    private TaskCompletionSource _reached = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public long Count => Interlocked.Read(ref _count);

    public void Add(int messages)
    {
        if (messages > 0 && Interlocked.Add(ref _count, messages) >= Interlocked.Read(ref _target))
        {
            Volatile.Read(ref _reached).TrySetResult();
        }
    }

    /// <summary>Arms a wait for <paramref name="total"/> messages counted since the start.</summary>
    public Task ExpectAsync(long total)
    {
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _reached, reached);
        Interlocked.Exchange(ref _target, total);
        if (Count >= total)
        {
            reached.TrySetResult();
        }

        return reached.Task;
    }
}

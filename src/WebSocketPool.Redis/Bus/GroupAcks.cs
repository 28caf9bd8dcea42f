// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;

namespace WebSocketPool.Redis.Internal;

/// <summary>
/// Group changes this node asked another node to make and waits to hear back about. The request id travels in the
/// request's code; the owning node answers on this node's channel once the change is made (and, for a join, once it
/// hears the group's channel), so a send issued after the answer reaches the member.
/// </summary>
internal sealed class GroupAcks
{
    private readonly ConcurrentDictionary<int, TaskCompletionSource<bool>> _pending = new();
    private int _lastId;

    public int Pending => _pending.Count;

    /// <summary>A new request id (never 0, which asks for no answer) and the task its answer completes.</summary>
    public (int Id, Task<bool> Answer) Create()
    {
        while (true)
        {
            var id = Interlocked.Increment(ref _lastId) & int.MaxValue;
            var answer = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            if (id != 0 && _pending.TryAdd(id, answer))
            {
                return (id, answer.Task);
            }
        }
    }

    /// <summary>The owning node answered; an answer nobody waits for any more (timed out) is dropped.</summary>
    public void Complete(int id, bool done)
    {
        if (_pending.TryRemove(id, out var answer))
        {
            answer.TrySetResult(done);
        }
    }

    /// <summary>The asker stopped waiting (answered, timed out or cancelled).</summary>
    public void Forget(int id) => _pending.TryRemove(id, out _);
}

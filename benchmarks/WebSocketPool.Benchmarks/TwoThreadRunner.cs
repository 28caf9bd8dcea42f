// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Benchmarks;

/// <summary>
/// Runs one piece of work on the calling thread and on a second, long-lived thread at the same time, and returns when
/// both are done. The worker thread is created once, so an invocation allocates nothing of its own.
/// </summary>
internal sealed class TwoThreadRunner : IDisposable
{
    private readonly Thread _worker;
    private readonly ManualResetEventSlim _go = new(false);
    private readonly ManualResetEventSlim _done = new(false);
    private Action<int>? _work;
    private volatile bool _stopping;

    public TwoThreadRunner()
    {
        _worker = new Thread(WorkerLoop) { IsBackground = true, Name = "benchmark-worker" };
        _worker.Start();
    }

    /// <summary>Runs <paramref name="work"/> with index 0 here and index 1 on the worker, concurrently.</summary>
    public void Run(Action<int> work)
    {
        _work = work;
        _done.Reset();
        _go.Set();
        work(0);
        if (!_done.Wait(TimeSpan.FromMinutes(1)))
        {
            throw new TimeoutException("The worker thread did not finish within a minute.");
        }
    }

    public void Dispose()
    {
        _stopping = true;
        _go.Set();
        _worker.Join(TimeSpan.FromSeconds(5));
        _go.Dispose();
        _done.Dispose();
    }

    private void WorkerLoop()
    {
        while (true)
        {
            _go.Wait();
            _go.Reset();
            if (_stopping)
            {
                return;
            }

            _work!(1);
            _done.Set();
        }
    }
}

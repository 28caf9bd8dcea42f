// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;

namespace WebSocketPool.IntegrationTests.Infrastructure;

/// <summary>
/// Samples a value on a dedicated thread, as fast as it can (yielding between samples), and keeps the largest value
/// seen. Bounded by <see cref="Stop"/> and by a hard time limit.
/// </summary>
public sealed class MaxSampler : IDisposable
{
    private readonly Func<int> _sample;
    private readonly Thread _thread;
    private readonly TimeSpan _limit;
    private volatile bool _stop;
    private int _max = int.MinValue;
    private long _samples;

    public MaxSampler(Func<int> sample, TimeSpan limit)
    {
        _sample = sample;
        _limit = limit;
        _thread = new Thread(Run) { IsBackground = true, Name = "max-sampler" };
        _thread.Start();
    }

    public int Max => Volatile.Read(ref _max);

    public long Samples => Interlocked.Read(ref _samples);

    /// <summary>Stops sampling, takes one last sample and returns the largest value seen.</summary>
    public int Stop()
    {
        _stop = true;
        _thread.Join();
        Observe(_sample());
        return Max;
    }

    public void Dispose()
    {
        _stop = true;
        _thread.Join();
    }

    private void Run()
    {
        var watch = Stopwatch.StartNew();
        while (!_stop && watch.Elapsed < _limit)
        {
            Observe(_sample());
            Interlocked.Increment(ref _samples);
            Thread.Yield();
        }
    }

    private void Observe(int value)
    {
        var seen = Volatile.Read(ref _max);
        while (value > seen)
        {
            var previous = Interlocked.CompareExchange(ref _max, value, seen);
            if (previous == seen)
            {
                return;
            }

            seen = previous;
        }
    }
}

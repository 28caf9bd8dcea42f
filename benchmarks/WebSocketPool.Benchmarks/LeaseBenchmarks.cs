// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Microsoft.Extensions.DependencyInjection;
using WebSocketPool.Benchmarks.Baselines;

namespace WebSocketPool.Benchmarks;

/// <summary>
/// Reserve + lease + release of one connection slot on one thread, in steady state (the user's entry and a warm
/// manager already exist, as they do for a user who reconnects): the pool's <c>TryAdmit</c>/<c>Abandon</c> against a
/// plain <c>ConcurrentDictionary</c> counter and against a re-creation of the original per-connection-manager design.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[BenchmarkCategory("lease-1-thread")]
public class LeaseBenchmarks
{
    internal const int OperationsPerBatch = Operations;
    private const int Operations = 1_000;
    private const string User = "user-0";

    private PooledWebSocketManagerFactory _pool = null!;
    private ServiceProvider _services = null!;
    private ConcurrentDictionaryCounterFactory _counter = null!;
    private OriginalDesignFactory _original = null!;

    [GlobalSetup]
    public void Setup()
    {
        (_pool, _services) = PoolFactories.Create(new WebSocketPoolOptions { MaxConnectionsPerUser = 10, MaxConnections = 10_000 });
        _counter = new ConcurrentDictionaryCounterFactory(10, 10_000);
        _original = new OriginalDesignFactory(20);

        // Steady state: the user's entry exists and a manager is warm.
        PooledLeaseRelease();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _pool.Dispose();
        _services.Dispose();
    }

    [Benchmark(OperationsPerInvoke = Operations, Description = "WebSocketPool TryAdmit+Abandon")]
    public int PooledLeaseRelease()
    {
        var admitted = 0;
        for (var i = 0; i < Operations; i++)
        {
            var admission = _pool.TryAdmit(User);
            if (admission.IsAdmitted)
            {
                admitted++;
            }

            _pool.Abandon(admission);
        }

        return admitted;
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Operations, Description = "ConcurrentDictionary counter")]
    public int CounterReserveRelease()
    {
        var admitted = 0;
        for (var i = 0; i < Operations; i++)
        {
            if (_counter.TryReserve(User))
            {
                admitted++;
                _counter.Release(User);
            }
        }

        return admitted;
    }

    [Benchmark(OperationsPerInvoke = Operations, Description = "Original design (new manager per connection)")]
    public int OriginalCreateRelease()
    {
        var admitted = 0;
        for (var i = 0; i < Operations; i++)
        {
            if (_original.TryCreate(User) is { } manager)
            {
                admitted++;
                _original.Release(manager);
            }
        }

        return admitted;
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Microsoft.Extensions.DependencyInjection;
using WebSocketPool.Benchmarks.Baselines;

namespace WebSocketPool.Benchmarks;

/// <summary>
/// The same reserve + lease + release as <see cref="LeaseBenchmarks"/>, on two threads at once: either two users
/// (contention on the global count only) or one user (contention on that user's entry too). The time per operation is
/// wall time divided by the operations of both threads, so perfect scaling would halve the single-thread figure.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)]
[BenchmarkCategory("lease-2-threads")]
public class ContendedLeaseBenchmarks
{
    private const int OperationsPerThread = 5_000;
    private const int Operations = 2 * OperationsPerThread;
    private static readonly string[] s_distinctUsers = ["user-0", "user-1"];
    private static readonly string[] s_sameUser = ["user-0", "user-0"];

    private PooledWebSocketManagerFactory _pool = null!;
    private ServiceProvider _services = null!;
    private ConcurrentDictionaryCounterFactory _counter = null!;
    private OriginalDesignFactory _original = null!;
    private TwoThreadRunner _runner = null!;
    private string[] _users = s_distinctUsers;
    private Action<int> _poolWork = null!;
    private Action<int> _counterWork = null!;
    private Action<int> _originalWork = null!;

    /// <summary>Gets or sets a value indicating whether both threads use the same user.</summary>
    [Params(false, true)]
    public bool SameUser { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        (_pool, _services) = PoolFactories.Create(new WebSocketPoolOptions { MaxConnectionsPerUser = 10, MaxConnections = 10_000 });
        _counter = new ConcurrentDictionaryCounterFactory(10, 10_000);
        _original = new OriginalDesignFactory(20);
        _runner = new TwoThreadRunner();
        _users = SameUser ? s_sameUser : s_distinctUsers;
        _poolWork = PoolLoop;
        _counterWork = CounterLoop;
        _originalWork = OriginalLoop;
        PooledLeaseRelease();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _runner.Dispose();
        _pool.Dispose();
        _services.Dispose();
    }

    [Benchmark(OperationsPerInvoke = Operations, Description = "WebSocketPool TryAdmit+Abandon")]
    public void PooledLeaseRelease() => _runner.Run(_poolWork);

    [Benchmark(Baseline = true, OperationsPerInvoke = Operations, Description = "ConcurrentDictionary counter")]
    public void CounterReserveRelease() => _runner.Run(_counterWork);

    [Benchmark(OperationsPerInvoke = Operations, Description = "Original design (new manager per connection)")]
    public void OriginalCreateRelease() => _runner.Run(_originalWork);

    private void PoolLoop(int thread)
    {
        var user = _users[thread];
        for (var i = 0; i < OperationsPerThread; i++)
        {
            var admission = _pool.TryAdmit(user);
            _pool.Abandon(admission);
        }
    }

    private void CounterLoop(int thread)
    {
        var user = _users[thread];
        for (var i = 0; i < OperationsPerThread; i++)
        {
            if (_counter.TryReserve(user))
            {
                _counter.Release(user);
            }
        }
    }

    private void OriginalLoop(int thread)
    {
        var user = _users[thread];
        for (var i = 0; i < OperationsPerThread; i++)
        {
            if (_original.TryCreate(user) is { } manager)
            {
                _original.Release(manager);
            }
        }
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Benchmarks;

/// <summary>
/// Exact bytes allocated per operation in steady state, as a fraction: BenchmarkDotNet rounds its per-operation figure to
/// whole bytes, so an allocation made once per batch (say 64 B per 200 sends) shows there as nothing. Each path runs
/// once to reach steady state, then <c>GC.GetTotalAllocatedBytes(precise: true)</c> (every thread: the writers too) is
/// read around many batches. Run with <c>--allocations</c>; timings are not taken.
/// </summary>
internal static class AllocationProbe
{
    private const int Batches = 50;

    public static Dictionary<string, double> Measure()
    {
        var results = new Dictionary<string, double>(StringComparer.Ordinal);
        var fanOut = new FanOutBenchmarks();
        fanOut.Setup();
        try
        {
            results["sendToUserBytesPerSend"] = PerOperation(() => fanOut.SendToUser(), FanOutBenchmarks.SendsPerBatch);
            results["sendToGroupBytesPerSend"] = PerOperation(() => fanOut.SendToGroup(), FanOutBenchmarks.SendsPerBatch);
            results["sendToAllBytesPerSend"] = PerOperation(() => fanOut.SendToAll(), FanOutBenchmarks.SendsPerBatch);
        }
        finally
        {
            fanOut.Cleanup();
        }

        var echo = new EchoBenchmarks();
        echo.Setup();
        try
        {
            results["echoBytesPerMessage"] = PerOperation(() => echo.Echo(), EchoBenchmarks.EchoesPerBatch);
        }
        finally
        {
            echo.Cleanup();
        }

        var lease = new LeaseBenchmarks();
        lease.Setup();
        try
        {
            results["leaseReleaseBytesPerOperation"] = PerOperation(() => lease.PooledLeaseRelease(), LeaseBenchmarks.OperationsPerBatch);
        }
        finally
        {
            lease.Cleanup();
        }

        return results;
    }

    private static double PerOperation(Func<int> batch, int operationsPerBatch)
    {
        batch();
        var before = GC.GetTotalAllocatedBytes(precise: true);
        for (var i = 0; i < Batches; i++)
        {
            batch();
        }

        var after = GC.GetTotalAllocatedBytes(precise: true);
        return Math.Round((after - before) / (double)(Batches * operationsPerBatch), 3);
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using CsCheck;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace WebSocketPool.Tests.Model;

/// <summary>
/// Random interleavings of admit (from one of two client addresses), abandon, accept, client close, vanished client,
/// kick, evict (an admission under EvictOldest, kept once accepted), drain and audit, run in parallel on the real factory
/// and checked against every sequential order of the same operations on <see cref="PoolModel"/> (CsCheck's
/// linearizability check). On every step the harness checks: a user's count, pledges included, never above the limit;
/// handshaking + open + closing, and with them the places users keep for their next lease, never above <c>MaxConnections</c>; an address's count never above its per-IP limit; no
/// count ever negative (no slot released twice); the audit finds nothing. At the end, no handle of an ended lease reaches
/// a live one. A failure is shrunk to the shortest sequence and printed with its seed.
/// </summary>
public sealed class FactoryModelTests(ITestOutputHelper output) : IDisposable
{
    private const int Users = 2;
    private const int Addresses = 2;

    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();

    /// <summary>Per-user limit 1–3, node cap up to 3 above it, either overflow policy, per-IP limit off or 1–3.</summary>
    private static Gen<PoolModelConfig> Configs =>
        from limit in Gen.Int[1, 3]
        from extra in Gen.Int[0, 3]
        from evict in Gen.Bool
        from perAddress in Gen.Int[0, 3]
        select new PoolModelConfig(Users, limit, limit + extra, evict, Addresses, perAddress);

    public void Dispose() => _services.Dispose();

    [Fact]
    public void Factory_RandomConcurrentLifecycles_LinearizeToTheSequentialModel()
    {
        var meters = _services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
        var user = Gen.Int[0, Users - 1];
        var admit = Gen.Select(user, Gen.Int[0, Addresses - 1]);
        var initial =
            from config in Configs
            select (new PoolHarness(config, meters), new PoolModel(config));

        initial.SampleParallel(
            [
                admit.Operation<PoolHarness, PoolModel>(t => $"Admit({t.Item1}, a{t.Item2})", (a, t) => a.Admit(t.Item1, t.Item2), (m, t) => m.Admit(t.Item1, t.Item2)),
                admit.Operation<PoolHarness, PoolModel>(t => $"Admit({t.Item1}, a{t.Item2})", (a, t) => a.Admit(t.Item1, t.Item2), (m, t) => m.Admit(t.Item1, t.Item2)),
                user.Operation<PoolHarness, PoolModel>(u => $"Accept({u})", (a, u) => a.Accept(u), (m, u) => m.Accept(u)),
                user.Operation<PoolHarness, PoolModel>(u => $"Accept({u})", (a, u) => a.Accept(u), (m, u) => m.Accept(u)),
                user.Operation<PoolHarness, PoolModel>(u => $"Abandon({u})", (a, u) => a.Abandon(u), (m, u) => m.Abandon(u)),
                user.Operation<PoolHarness, PoolModel>(u => $"Close({u})", (a, u) => a.Close(u), (m, u) => m.Close(u)),
                user.Operation<PoolHarness, PoolModel>(u => $"Drop({u})", (a, u) => a.Drop(u), (m, u) => m.Close(u)),
                user.Operation<PoolHarness, PoolModel>(u => $"Kick({u})", (a, u) => a.Kick(u), (m, u) => m.Kick(u)),
                Gen.Operation<PoolHarness, PoolModel>("Audit", a => a.Audit(), _ => { }),
                Gen.Int[0, 19].Operation<PoolHarness, PoolModel>(
                    n => n == 0 ? "Drain" : "Audit", (a, n) => { if (n == 0) { a.Drain(); } else { a.Audit(); } }, (m, n) => { if (n == 0) { m.Drain(); } }),
            ],
            equal: (actual, model) => actual.Matches(model),
            maxSequentialOperations: 12,
            maxParallelOperations: 5,
            iter: 1500,
            printActual: a => a.ToString(),
            printModel: m => m.ToString(),
            writeLine: output.WriteLine);
    }

    /// <summary>
    /// Whatever random operations ran, concurrently, once every connection has ended nothing is counted anywhere: the
    /// node's count, every user's and every address's are 0, no address keeps an entry, and the audit agrees.
    /// </summary>
    [Fact]
    public void Factory_RandomConcurrentOperationsThenEveryConnectionEnds_EveryCountReturnsToZero()
    {
        var meters = _services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
        var operation = Gen.Int[0, 8].Select(Gen.Int[0, Users - 1], Gen.Int[0, Addresses - 1]);
        Gen.Select(Configs, operation.Array[1, 40]).Sample(sample =>
        {
            var (config, operations) = sample;
            var harness = new PoolHarness(config, meters);
            try
            {
                Parallel.ForEach(operations, new ParallelOptions { MaxDegreeOfParallelism = 4 }, op =>
                {
                    var (kind, u, a) = op;
                    switch (kind)
                    {
                        case 0 or 1 or 2: harness.Admit(u, a); break;
                        case 3 or 4: harness.Accept(u); break;
                        case 5: harness.Abandon(u); break;
                        case 6: harness.Close(u); break;
                        case 7: harness.Drop(u); break;
                        default: harness.Kick(u); break;
                    }
                });

                harness.EndEverything();
                var factory = harness.Factory;
                var settled = factory.ActiveConnections == 0
                    && Enumerable.Range(0, Users).All(u => factory.GetConnectionCount(PoolHarness.UserKey(u)) == 0)
                    && Enumerable.Range(0, Addresses).All(a => factory.GetAddressConnectionCount(PoolHarness.Address(a)) == 0)
                    && factory.AddressEntryCount == 0
                    && factory.Audit().Mismatches == 0;
                if (!settled)
                {
                    throw new InvalidOperationException($"Counts left behind after every connection ended: {harness} (addresses kept: {factory.AddressEntryCount})");
                }
            }
            finally
            {
                harness.Factory.Dispose();
            }
        }, iter: 300, threads: 1, print: s => $"{s.Item1} ops: {string.Join(", ", s.Item2)}", writeLine: output.WriteLine);
    }
}

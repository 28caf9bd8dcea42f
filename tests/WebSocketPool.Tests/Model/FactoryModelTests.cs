// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using CsCheck;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace WebSocketPool.Tests.Model;

/// <summary>
/// Random interleavings of admit, abandon, accept, client close, vanished client, kick, evict (an admission under
/// EvictOldest, kept once accepted), drain and audit, run in parallel on the real factory and checked against every
/// sequential order of the same operations on <see cref="PoolModel"/> (CsCheck's linearizability check). On every step
/// the harness checks: a user's count, pledges included, never above the limit; handshaking + open + closing never
/// above <c>MaxConnections</c>; no count ever negative (no slot released twice); the audit finds nothing. At the end,
/// no handle of an ended lease reaches a live one. A failure is shrunk to the shortest sequence and printed with its seed.
/// </summary>
public sealed class FactoryModelTests(ITestOutputHelper output) : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();

    public void Dispose() => _services.Dispose();

    [Fact]
    public void Factory_RandomConcurrentLifecycles_LinearizeToTheSequentialModel()
    {
        var meters = _services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
        const int Users = 2;
        var user = Gen.Int[0, Users - 1];
        var initial =
            from limit in Gen.Int[1, 3]
            from extra in Gen.Int[0, 3]
            from evict in Gen.Bool
            select new PoolModelConfig(Users, limit, limit + extra, evict) into config
            select (new PoolHarness(config, meters), new PoolModel(config));

        initial.SampleParallel(
            [
                user.Operation<PoolHarness, PoolModel>(u => $"Admit({u})", (a, u) => a.Admit(u), (m, u) => m.Admit(u)),
                user.Operation<PoolHarness, PoolModel>(u => $"Admit({u})", (a, u) => a.Admit(u), (m, u) => m.Admit(u)),
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
}

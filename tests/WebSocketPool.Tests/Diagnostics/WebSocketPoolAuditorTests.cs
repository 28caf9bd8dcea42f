// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using WebSocketPool.Internal;

namespace WebSocketPool.Tests.Diagnostics;

public sealed class WebSocketPoolAuditorTests
{
    [Fact]
    public void Start_PositiveInterval_RunsOnTheTimeProviderAndRepairsDrift()
    {
        // Arrange
        using var fixture = new ObservabilityFixture();
        using var mismatches = new MetricCollector<long>(fixture.MeterFactory, "WebSocketPool", "websocketpool.audit.mismatches");
        var admission = fixture.Admit("u");
        fixture.Auditor.Start();
        fixture.Factory.InjectCountDriftForTesting("u", 3);

        // Act / Assert: nothing happens before the interval, the drift is gone after it.
        fixture.Time.Advance(TimeSpan.FromSeconds(59));
        fixture.Auditor.Runs.Should().Be(0);
        fixture.Factory.GetConnectionCount("u").Should().Be(4);
        fixture.Time.Advance(TimeSpan.FromSeconds(1));
        fixture.Auditor.IsRunning.Should().BeTrue();
        fixture.Auditor.Runs.Should().Be(1);
        fixture.Auditor.LastResult.Mismatches.Should().BeGreaterThan(0);
        fixture.Auditor.LastResult.Unrepaired.Should().Be(0);
        fixture.Factory.GetConnectionCount("u").Should().Be(1, "the handshake in progress still holds its slot");
        fixture.Factory.ActiveConnections.Should().Be(1);
        mismatches.GetMeasurementSnapshot().Sum(m => m.Value).Should().Be(fixture.Auditor.LastResult.Mismatches);

        fixture.Factory.Abandon(admission);
        fixture.Time.Advance(TimeSpan.FromMinutes(1));
        fixture.Auditor.Runs.Should().Be(2);
        fixture.Auditor.LastResult.Should().Be(new AuditResult(0, 0, 0));
        fixture.Factory.ActiveConnections.Should().Be(0);
    }

    [Fact]
    public void Start_ZeroInterval_DoesNotRun()
    {
        using var fixture = new ObservabilityFixture(o => o.AuditInterval = TimeSpan.Zero);

        fixture.Auditor.Start();
        fixture.Time.Advance(TimeSpan.FromHours(1));

        fixture.Auditor.IsRunning.Should().BeFalse();
        fixture.Auditor.Runs.Should().Be(0);
    }

    [Fact]
    public void Stop_AfterStart_NoMoreRuns()
    {
        using var fixture = new ObservabilityFixture();
        fixture.Auditor.Start();
        fixture.Time.Advance(TimeSpan.FromMinutes(1));

        fixture.Auditor.Stop();
        fixture.Time.Advance(TimeSpan.FromMinutes(5));

        fixture.Auditor.IsRunning.Should().BeFalse();
        fixture.Auditor.Runs.Should().Be(1);
    }

    [Fact]
    public async Task RunOnce_ConcurrentAdmitAndRelease_NeverReportsAMismatch()
    {
        // Admissions and releases change a user's count and the slot it stands for together, under the user's lock,
        // so an audit at any instant agrees with them and never "repairs" correct counters.
        using var fixture = new ObservabilityFixture(o => o.MaxConnectionsPerUser = 4);
        var factory = fixture.Factory;
        var found = 0;
        var audits = 0;
        using var done = new ManualResetEventSlim();
        var auditor = Task.Factory.StartNew(
            () =>
            {
                while (!done.IsSet && audits < 1_000_000)
                {
                    found += fixture.Auditor.RunOnce().Mismatches;
                    audits++;
                }
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);
        var workers = Enumerable.Range(0, 4).Select(n => Task.Factory.StartNew(
            () =>
            {
                for (var i = 0; i < 20_000; i++)
                {
                    var admission = factory.TryAdmit("user" + (n % 2));
                    factory.Abandon(admission);
                }
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default)).ToArray();

        await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(60));
        done.Set();
        await auditor.WaitAsync(TimeSpan.FromSeconds(10));

        audits.Should().BeGreaterThan(0);
        found.Should().Be(0);
        factory.ActiveConnections.Should().Be(0);
        fixture.Auditor.RunOnce().Should().Be(new AuditResult(0, 0, 0));
    }
}

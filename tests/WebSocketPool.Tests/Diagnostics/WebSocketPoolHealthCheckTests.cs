// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace WebSocketPool.Tests.Diagnostics;

public sealed class WebSocketPoolHealthCheckTests
{
    [Fact]
    public async Task CheckHealthAsync_OneUserAtHalfTheirLimit_StaysHealthyAndReportsTheUser()
    {
        // Arrange: 4 per user, so 2 connections reach the 50 % alert threshold of the user's own limit
        using var fixture = new ObservabilityFixture(o => o.MaxConnectionsPerUser = 4);
        fixture.Admit("a");
        fixture.Admit("a");

        // Act
        var result = await CheckAsync(fixture);

        // Assert: the node is far from its own capacity; the user is reported, not the node degraded
        result.Status.Should().Be(HealthStatus.Healthy);
        result.Data["usersNearLimit"].Should().Be(1);
        result.Data["topUsers"].Should().BeEquivalentTo(new[] { "a:2/4" });
    }

    [Fact]
    public async Task CheckHealthAsync_LastAuditFoundARepairedMismatch_DegradedUntilACleanAudit()
    {
        // Arrange
        using var fixture = new ObservabilityFixture();
        var admission = fixture.Admit("u");
        fixture.Auditor.Start();
        fixture.Factory.InjectCountDriftForTesting("u", 3);

        // Act
        fixture.Time.Advance(TimeSpan.FromMinutes(1));
        var afterMismatch = await CheckAsync(fixture);
        fixture.Factory.Abandon(admission);
        fixture.Time.Advance(TimeSpan.FromMinutes(1));
        var afterCleanAudit = await CheckAsync(fixture);

        // Assert
        fixture.Auditor.Runs.Should().Be(2);
        afterMismatch.Status.Should().Be(HealthStatus.Degraded);
        afterMismatch.Description.Should().Contain("self-audit");
        afterCleanAudit.Status.Should().Be(HealthStatus.Healthy);
    }

    [Theory]
    [InlineData(0.5, 10, 4, HealthStatus.Healthy)]
    [InlineData(0.5, 10, 5, HealthStatus.Degraded)]
    [InlineData(0.8, 10, 7, HealthStatus.Healthy)]
    [InlineData(0.8, 10, 8, HealthStatus.Degraded)]
    public async Task CheckHealthAsync_NodeConnections_DegradedFromTheThreshold(double threshold, int max, int connections, HealthStatus expected)
    {
        using var fixture = new ObservabilityFixture(o =>
        {
            o.AlertThreshold = threshold;
            o.MaxConnections = max;
            o.MaxConnectionsPerUser = max;
        });
        for (var i = 0; i < connections; i++)
        {
            fixture.Admit("user" + i);
        }

        (await CheckAsync(fixture)).Status.Should().Be(expected);
    }

    [Fact]
    public async Task CheckHealthAsync_Draining_Unhealthy()
    {
        using var fixture = new ObservabilityFixture();

        fixture.Factory.BeginDrain();

        var result = await CheckAsync(fixture);
        result.Status.Should().Be(HealthStatus.Unhealthy);
        result.Data["draining"].Should().Be(true);
    }

    [Fact]
    public void UserNearLimit_ConcurrentAdmissions_RaisedOncePerCrossing()
    {
        using var fixture = new ObservabilityFixture(o => o.MaxConnectionsPerUser = 10);
        var raised = new ConcurrentQueue<UserNearLimitEventArgs>();
        fixture.Factory.UserNearLimit += (_, e) => raised.Enqueue(e);

        var admissions = new ConcurrentBag<WebSocketAdmission>();
        Parallel.For(0, 10, _ => admissions.Add(fixture.Admit("u")));
        raised.Should().ContainSingle().Which.Connections.Should().Be(5);
        foreach (var admission in admissions)
        {
            fixture.Factory.Abandon(admission);
        }

        Parallel.For(0, 10, _ => admissions.Add(fixture.Admit("u")));

        raised.Should().HaveCount(2, "falling below and rising again is a second crossing");
        raised.Should().OnlyContain(e => e.UserKey == "u" && e.Limit == 10 && e.Connections == 5);
    }

    private static Task<HealthCheckResult> CheckAsync(ObservabilityFixture fixture) =>
        fixture.HealthCheck.CheckHealthAsync(new HealthCheckContext
        {
            Registration = new HealthCheckRegistration("websocketpool", fixture.HealthCheck, HealthStatus.Unhealthy, null),
        });
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using WebSocketPool.Internal;

namespace WebSocketPool.Tests.Diagnostics;

/// <summary>A factory with its auditor and health check on a fake clock, without sockets: admissions stand for handshakes in progress.</summary>
internal sealed class ObservabilityFixture : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();

    public ObservabilityFixture(Action<WebSocketPoolOptions>? configure = null)
    {
        var options = new WebSocketPoolOptions { AuditInterval = TimeSpan.FromMinutes(1) };
        configure?.Invoke(options);
        var wrapped = Options.Create(options);
        MeterFactory = _services.GetRequiredService<IMeterFactory>();
        Factory = new PooledWebSocketManagerFactory(wrapped, Time, new WebSocketPoolMetrics(MeterFactory));
        Auditor = new WebSocketPoolAuditor(Factory, wrapped, Time, NullLogger<WebSocketPoolAuditor>.Instance);
        HealthCheck = new WebSocketPoolHealthCheck(Factory, Auditor);
    }

    public FakeTimeProvider Time { get; } = new(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));

    public IMeterFactory MeterFactory { get; }

    public PooledWebSocketManagerFactory Factory { get; }

    public WebSocketPoolAuditor Auditor { get; }

    public WebSocketPoolHealthCheck HealthCheck { get; }

    public WebSocketAdmission Admit(string user)
    {
        var admission = Factory.TryAdmit(user);
        admission.IsAdmitted.Should().BeTrue();
        return admission;
    }

    public void Dispose()
    {
        Auditor.Dispose();
        Factory.Dispose();
        _services.Dispose();
    }
}

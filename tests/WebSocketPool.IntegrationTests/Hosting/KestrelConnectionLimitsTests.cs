// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;
using WebSocketPool.Internal;

namespace WebSocketPool.IntegrationTests.Hosting;

/// <summary>
/// Kestrel's connection limits come from the same descriptor budget as the pool's cap: upgraded connections at least
/// what the pool admits, every connection together within the open-files limit less the process's own files, and what
/// the app set itself kept as it is.
/// </summary>
public sealed class KestrelConnectionLimitsTests
{
    [Theory]
    [InlineData(1024, 512)]
    [InlineData(4096, 3584)]
    [InlineData(20_000, 10_000)]
    [InlineData(20_000, 19_000)]
    [InlineData(1_048_576, 10_000)]
    [InlineData(1_048_576, 996_148)]
    public void Apply_NothingSetByTheApp_BoundsEveryConnectionWithinTheOpenFilesLimit(long openFiles, int maxConnections)
    {
        var limits = new KestrelServerOptions().Limits;
        var logger = new FakeLogger();

        KestrelConnectionLimits.Apply(limits, openFiles, maxConnections, logger);

        var upgraded = limits.MaxConcurrentUpgradedConnections!.Value;
        var connections = limits.MaxConcurrentConnections!.Value;
        upgraded.Should().BeGreaterThan(maxConnections, "an admitted WebSocket never fails its upgrade at Kestrel's limit");
        upgraded.Should().BeLessThanOrEqualTo(maxConnections + Math.Max(16, maxConnections / 100));
        connections.Should().BeGreaterThanOrEqualTo(64, "handshakes, refusals and other endpoints need connections too");
        (connections + upgraded + WebSocketPoolDescriptorBudget.OwnFilesFor(openFiles)).Should().BeLessThanOrEqualTo(openFiles,
            "every connection together stays within the open-files limit, less the process's own files");
        var record = logger.Collector.GetSnapshot().Should().ContainSingle().Subject;
        record.Level.Should().Be(LogLevel.Information);
        record.Id.Should().Be(new EventId(41, "KestrelLimitsSet"));
        record.Message.Should().Contain($"MaxConcurrentConnections {connections} (chosen by WebSocketPool)")
            .And.Contain($"MaxConcurrentUpgradedConnections {upgraded} (chosen by WebSocketPool)");
    }

    [Fact]
    public void Apply_AppSetBoth_KeepsThem()
    {
        var limits = new KestrelServerOptions().Limits;
        limits.MaxConcurrentConnections = 5000;
        limits.MaxConcurrentUpgradedConnections = 6000;
        var logger = new FakeLogger();

        KestrelConnectionLimits.Apply(limits, 20_000, 5000, logger);

        limits.MaxConcurrentConnections.Should().Be(5000);
        limits.MaxConcurrentUpgradedConnections.Should().Be(6000);
        logger.Collector.GetSnapshot().Should().ContainSingle().Which.Message.Should()
            .Contain("MaxConcurrentConnections 5000 (set by the app)").And.Contain("MaxConcurrentUpgradedConnections 6000 (set by the app)");
    }

    [Fact]
    public void Apply_AppSetUpgradedBelowThePoolsCap_KeepsItWarnsAndGivesTheRestToHttpConnections()
    {
        var limits = new KestrelServerOptions().Limits;
        limits.MaxConcurrentUpgradedConnections = 100;
        var logger = new FakeLogger();

        KestrelConnectionLimits.Apply(limits, 20_000, 10_000, logger);

        limits.MaxConcurrentUpgradedConnections.Should().Be(100);
        limits.MaxConcurrentConnections.Should().Be(20_000 - WebSocketPoolDescriptorBudget.OwnFilesFor(20_000) - 100);
        var warning = logger.Collector.GetSnapshot().Should().ContainSingle(r => r.Level == LogLevel.Warning).Subject;
        warning.Id.Should().Be(new EventId(42, "KestrelUpgradedLimitBelowPool"));
        warning.Message.Should().Contain("100").And.Contain("10000").And.Contain("Kestrel's limit wins");
    }

    [Fact]
    public void Apply_AppLimitsAboveTheBudget_Warns()
    {
        var limits = new KestrelServerOptions().Limits;
        limits.MaxConcurrentConnections = 1_000_000;
        var logger = new FakeLogger();

        KestrelConnectionLimits.Apply(limits, 1024, 512, logger);

        limits.MaxConcurrentConnections.Should().Be(1_000_000, "the app's value is the app's choice");
        logger.Collector.GetSnapshot().Should().ContainSingle(r => r.Level == LogLevel.Warning).Which.Id.Name.Should().Be("KestrelLimitsAboveBudget");
    }

    [Fact]
    public async Task Start_OnKestrel_SetsWhatTheAppLeftAndKeepsWhatItSet()
    {
        await using var server = await PoolTestServer.StartAsync(
            o => o.MaxConnections = 2000,
            services: s => s.Configure<KestrelServerOptions>(k => k.Limits.MaxConcurrentConnections = 1234));

        var limits = server.App.Services.GetRequiredService<IOptions<KestrelServerOptions>>().Value.Limits;

        limits.MaxConcurrentConnections.Should().Be(1234, "a limit the app set is kept");
        if (WebSocketPoolDescriptorBudget.TryReadOpenFilesLimit() is not null)
        {
            limits.MaxConcurrentUpgradedConnections.Should().Be(WebSocketPoolDescriptorBudget.UpgradedFor(2000));
        }
        else
        {
            limits.MaxConcurrentUpgradedConnections.Should().BeNull("without a known open-files limit Kestrel is left as it is");
        }
    }
}

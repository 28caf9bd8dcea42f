// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using WebSocketPool.Internal;

namespace WebSocketPool.IntegrationTests.Reliability;

/// <summary>The global cap is kept below what the process may open, so a misconfigured cap cannot crash the server.</summary>
public sealed class DescriptorBudgetTests
{
    [Theory]
    [InlineData(1024, 512)]
    [InlineData(4096, 3584)]
    [InlineData(20_000, 19_000)]
    [InlineData(1_048_576, 996_148)]
    [InlineData(100, 1)]
    public void BudgetFor_OpenFilesLimit_ReservesFivePercentAndAtLeast512(long limit, int expected)
    {
        WebSocketPoolDescriptorBudget.BudgetFor(limit).Should().Be(expected);
    }

    [Fact]
    public void AddWebSocketPooling_CapAboveTheProcessLimit_IsLoweredToTheBudget()
    {
        var limit = File.ReadLines("/proc/self/limits").First(l => l.StartsWith("Max open files", StringComparison.Ordinal))
            ["Max open files".Length..].TrimStart().Split(' ', 2)[0];
        var services = new ServiceCollection().AddLogging();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().Build());
        services.AddWebSocketPooling(o =>
        {
            o.MaxConnections = 1_000_000;
            o.MaxConnectionsPerUser = 1_000_000;
        });
        using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptions<WebSocketPoolOptions>>().Value;

        if (long.TryParse(limit, out var openFiles))
        {
            options.MaxConnections.Should().Be(WebSocketPoolDescriptorBudget.BudgetFor(openFiles), "the cap may not exceed what the process can open");
            options.MaxConnectionsPerUser.Should().Be(options.MaxConnections, "the per-user cap may not exceed the lowered global cap");
        }
        else
        {
            options.MaxConnections.Should().Be(1_000_000, "an unlimited process keeps the configured cap");
        }
    }
}

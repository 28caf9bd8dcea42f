// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace WebSocketPool.Redis.Tests;

public sealed class RedisWebSocketPoolOptionsTests
{
    private static async Task<Exception?> StartWithAsync(Action<IWebSocketPoolBuilder> addRedis)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        addRedis(builder.Services.AddWebSocketPooling());
        await using var app = builder.Build();
        try
        {
            await app.StartAsync();
            await app.StopAsync();
            return null;
        }
        catch (OptionsValidationException ex)
        {
            return ex;
        }
    }

    [Fact]
    public async Task Start_WithoutConfiguration_FailsNamingTheOption()
    {
        var error = await StartWithAsync(p => p.AddRedis(_ => { }));

        error.Should().BeOfType<OptionsValidationException>().Which.Message.Should().Contain("Configuration");
    }

    [Theory]
    [InlineData("00:00:00.500", "LeaseTtl")]
    [InlineData("02:00:00", "LeaseTtl")]
    public async Task Start_LeaseTtlOutOfRange_FailsNamingTheRange(string ttl, string option)
    {
        var error = await StartWithAsync(p => p.AddRedis(o =>
        {
            o.Configuration = "127.0.0.1:1";
            o.LeaseTtl = TimeSpan.Parse(ttl, System.Globalization.CultureInfo.InvariantCulture);
        }));

        error.Should().BeOfType<OptionsValidationException>().Which.Message.Should().Contain(option).And.Contain("00:00:01");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1_000_001)]
    public async Task Start_MaxInFlightPublishesOutOfRange_FailsNamingTheRange(int value)
    {
        var error = await StartWithAsync(p => p.AddRedis(o =>
        {
            o.Configuration = "127.0.0.1:1";
            o.MaxInFlightPublishes = value;
        }));

        error.Should().BeOfType<OptionsValidationException>().Which.Message.Should().Contain("MaxInFlightPublishes").And.Contain("1000000");
    }

    [Fact]
    public async Task Start_OperationTimeoutAboveHalfTheTtl_Fails()
    {
        var error = await StartWithAsync(p => p.AddRedis(o =>
        {
            o.Configuration = "127.0.0.1:1";
            o.LeaseTtl = TimeSpan.FromSeconds(2);
            o.OperationTimeout = TimeSpan.FromSeconds(1.5);
        }));

        error.Should().BeOfType<OptionsValidationException>().Which.Message.Should().Contain("OperationTimeout");
    }

    [Fact]
    public async Task Start_PrefixWithBraces_Fails()
    {
        var error = await StartWithAsync(p => p.AddRedis(o =>
        {
            o.Configuration = "127.0.0.1:1";
            o.Prefix = "{bad}";
        }));

        error.Should().BeOfType<OptionsValidationException>().Which.Message.Should().Contain("Prefix");
    }

    [Fact]
    public async Task AddRedis_UnknownKeyInSection_FailsAtStart()
    {
        var section = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Redis:Configuration"] = "127.0.0.1:1",
            ["Redis:LeaseTTLs"] = "00:00:05",
        }).Build().GetSection("Redis");

        var start = async () => await StartWithAsync(p => p.AddRedis(section));

        await start.Should().ThrowAsync<InvalidOperationException>().WithMessage("*LeaseTTLs*");
    }

    [Fact]
    public void AddRedis_CalledTwice_Throws()
    {
        var pool = new ServiceCollection().AddWebSocketPooling();
        pool.AddRedis(o => o.Configuration = "127.0.0.1:1");

        var again = () => pool.AddRedis(o => o.Configuration = "127.0.0.1:1");

        again.Should().Throw<InvalidOperationException>().WithMessage("*already*");
    }
}

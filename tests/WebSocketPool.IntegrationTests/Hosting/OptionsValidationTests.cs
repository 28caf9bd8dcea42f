// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace WebSocketPool.IntegrationTests.Hosting;

/// <summary>
/// Options are validated when the host starts: a bad value, a rule across options, or an unknown key in the
/// <c>WebSocketPool</c> section stops it with a message naming the option; the small legitimate values start fine.
/// </summary>
public sealed class OptionsValidationTests
{
    public static TheoryData<string, string, string[]> BadValues => new()
    {
        { "MaxConnectionsPerUser", "0", ["MaxConnectionsPerUser", "between 1 and 1000000"] },
        { "MaxConnections", "0", ["MaxConnections", "between 1 and 1000000"] },
        { "KeepAliveTimeout", "00:00:00", ["KeepAliveTimeout", "00:00:01", "01:00:00"] },
        { "KeepAliveInterval", "02:00:00", ["KeepAliveInterval", "00:00:00", "01:00:00"] },
        { "MaxMessageBytes", "8", ["MaxMessageBytes", "between 16 and"] },
        { "SendQueueCapacity", "0", ["SendQueueCapacity", "between 1 and"] },
        { "SendTimeout", "00:00:00", ["SendTimeout", "00:00:00.1", "00:10:00"] },
        { "ShutdownTimeout", "01:00:00", ["ShutdownTimeout", "00:10:00"] },
        { "ReuseWindow", "-00:00:01", ["ReuseWindow", "01:00:00"] },
        { "MaxPooledManagers", "-1", ["MaxPooledManagers", "between 0 and"] },
        { "ConnectRateBurst", "0", ["ConnectRateBurst", "between 1 and"] },
        { "AlertThreshold", "2", ["AlertThreshold", "between 0.01 and 1"] },
        { "Path", "ws", ["Path", "start with '/'"] },
        { "MaxConnectionsPerIP", "-1", ["MaxConnectionsPerIP", "between 0 and 1000000"] },
        { "ConnectRateLimitPerIP", "-1", ["ConnectRateLimitPerIP", "between 0 and"] },
        { "ConnectRateBurstPerIP", "0", ["ConnectRateBurstPerIP", "between 1 and"] },
        { "IPv6PrefixLength", "8", ["IPv6PrefixLength", "between 16 and 128"] },
        { "IPv6PrefixLength", "129", ["IPv6PrefixLength", "between 16 and 128"] },
        { "AllowedOrigins:0", "https://example.com/chat", ["AllowedOrigins", "https://example.com/chat", "without a path"] },
        { "AllowedOrigins:0", "https://example.com?x=1", ["AllowedOrigins", "without a path, query"] },
        { "AllowedOrigins:0", "null", ["AllowedOrigins", "'null'"] },
        { "AllowedOrigins:0", "example.com", ["AllowedOrigins", "http or https origin"] },
        { "AllowedOrigins:0", "wss://example.com", ["AllowedOrigins", "http or https origin"] },
        { "AllowedOrigins:0", "https://user@example.com", ["AllowedOrigins", "user"] },
    };

    [Theory]
    [MemberData(nameof(BadValues))]
    public async Task Start_BadValueInConfiguration_FailsNamingOptionAndRange(string option, string value, string[] expected)
    {
        var failure = await StartAsync(new() { [$"WebSocketPool:{option}"] = value });

        failure.Should().NotBeNull($"{option}={value} is out of range");
        foreach (var fragment in expected)
        {
            failure!.Message.Should().Contain(fragment);
        }
    }

    [Fact]
    public async Task Start_BadValueFromCode_Fails()
    {
        var failure = await StartAsync([], services => services.AddWebSocketPooling(o => o.KeepAliveTimeout = TimeSpan.Zero));

        failure.Should().BeOfType<OptionsValidationException>();
        failure!.Message.Should().Contain("KeepAliveTimeout").And.Contain("00:00:01");
    }

    [Fact]
    public async Task Start_PerUserLimitAboveGlobalLimit_Fails()
    {
        var failure = await StartAsync(new()
        {
            ["WebSocketPool:MaxConnections"] = "10",
            ["WebSocketPool:MaxConnectionsPerUser"] = "11",
        });

        failure.Should().BeOfType<OptionsValidationException>();
        failure!.Message.Should().Contain("MaxConnectionsPerUser").And.Contain("MaxConnections");
    }

    [Fact]
    public async Task Start_PerIPLimitAboveGlobalLimit_Fails()
    {
        var failure = await StartAsync(new()
        {
            ["WebSocketPool:MaxConnections"] = "10",
            ["WebSocketPool:MaxConnectionsPerIP"] = "11",
        });

        failure.Should().BeOfType<OptionsValidationException>();
        failure!.Message.Should().Contain("MaxConnectionsPerIP").And.Contain("MaxConnections");
    }

    [Theory]
    [InlineData("MaxConnectionPerUser")]
    [InlineData("KeepAlive")]
    public async Task Start_UnknownKeyInSection_Fails(string key)
    {
        var failure = await StartAsync(new() { [$"WebSocketPool:{key}"] = "5" });

        failure.Should().NotBeNull($"a misspelt key '{key}' must not be ignored silently");
        failure!.ToString().Should().Contain(key);
    }

    [Fact]
    public async Task Start_UnknownKeyThroughConfigurationOverload_Fails()
    {
        var failure = await StartAsync(
            new() { ["Pool:MaxConections"] = "5" },
            (services, configuration) => services.AddWebSocketPooling(configuration.GetSection("Pool")));

        failure.Should().NotBeNull();
        failure!.ToString().Should().Contain("MaxConections");
    }

    [Fact]
    public async Task Start_UnknownEnumValue_Fails()
    {
        var failure = await StartAsync(new() { ["WebSocketPool:OverflowPolicy"] = "Sometimes" });

        failure.Should().NotBeNull();
        failure!.ToString().Should().Contain("OverflowPolicy");
    }

    public static TheoryData<Dictionary<string, string?>> SmallLegitimateValues => new()
    {
        new Dictionary<string, string?> { ["WebSocketPool:KeepAliveInterval"] = "00:00:01", ["WebSocketPool:KeepAliveTimeout"] = "00:00:02" },
        new Dictionary<string, string?> { ["WebSocketPool:MaxMessageBytes"] = "4096", ["WebSocketPool:SendQueueCapacity"] = "64" },
        new Dictionary<string, string?> { ["WebSocketPool:MaxConnections"] = "10", ["WebSocketPool:MaxConnectionsPerUser"] = "10" },
        new Dictionary<string, string?> { ["WebSocketPool:MaxConnections"] = "19000", ["WebSocketPool:MaxConnectionsPerUser"] = "19000" },
        new Dictionary<string, string?> { ["WebSocketPool:MaxConnections"] = "19000", ["WebSocketPool:MaxConnectionsPerUser"] = "20" },
        new Dictionary<string, string?>
        {
            ["WebSocketPool:KeepAliveInterval"] = "00:00:00",
            ["WebSocketPool:ReuseWindow"] = "00:00:00",
            ["WebSocketPool:MaxPooledManagers"] = "0",
            ["WebSocketPool:ShutdownTimeout"] = "00:00:00",
            ["WebSocketPool:OverflowPolicy"] = "EvictOldest",
            ["WebSocketPool:AllowedOrigins:0"] = "https://example.com",
            ["WebSocketPool:AllowedOrigins:1"] = "http://localhost:5000/",
            ["WebSocketPool:AllowedOrigins:2"] = "*",
        },
        new Dictionary<string, string?>
        {
            ["WebSocketPool:MaxConnections"] = "10",
            ["WebSocketPool:MaxConnectionsPerIP"] = "10",
            ["WebSocketPool:ConnectRateLimitPerIP"] = "0.5",
            ["WebSocketPool:ConnectRateBurstPerIP"] = "1",
            ["WebSocketPool:IPv6PrefixLength"] = "128",
        },
    };

    [Theory]
    [MemberData(nameof(SmallLegitimateValues))]
    public async Task Start_SmallLegitimateValues_Starts(Dictionary<string, string?> values)
    {
        var failure = await StartAsync(values);

        failure.Should().BeNull();
    }

    [Fact]
    public async Task Start_SmallValuesFromCode_StartsAndApplies()
    {
        WebSocketPoolOptions? applied = null;
        var failure = await StartAsync(
            [],
            services => services.AddWebSocketPooling(o =>
            {
                o.KeepAliveInterval = TimeSpan.FromSeconds(1);
                o.KeepAliveTimeout = TimeSpan.FromSeconds(2);
                o.MaxMessageBytes = 4096;
                o.SendQueueCapacity = 64;
                o.MaxConnections = 10;
                o.MaxConnectionsPerUser = 10;
            }),
            app => applied = app.Services.GetRequiredService<IOptions<WebSocketPoolOptions>>().Value);

        failure.Should().BeNull();
        applied!.KeepAliveTimeout.Should().Be(TimeSpan.FromSeconds(2));
        applied.MaxConnectionsPerUser.Should().Be(10);
    }

    [Theory]
    [InlineData("KeepAliveInterval", "15", "15.00:00:00", "15 days")]
    [InlineData("SendTimeout", "30", "30.00:00:00", "30 days")]
    [InlineData("KeepAliveTimeout", "00:00:00.5", "00:00:00.5000000", "0.5 seconds")]
    public async Task Start_DurationOutOfRange_MessageShowsTheParsedValue(string option, string value, string parsed, string described)
    {
        var failure = await StartAsync(new() { [$"WebSocketPool:{option}"] = value });

        failure.Should().BeOfType<OptionsValidationException>();
        failure!.Message.Should().Contain($"{option} was read as {parsed} ({described})").And.Contain("00:00:15");
    }

    [Theory]
    [InlineData("https://a.example,https://b.example:8443")]
    [InlineData(" https://a.example , https://b.example:8443 ,")]
    public async Task Start_AllowedOriginsAsOneCommaSeparatedValue_AllowsEach(string value)
    {
        WebSocketPoolOptions? applied = null;
        var failure = await StartAsync(
            new() { ["WebSocketPool:AllowedOrigins"] = value },
            services => services.AddWebSocketPooling(),
            app => applied = app.Services.GetRequiredService<IOptions<WebSocketPoolOptions>>().Value);

        failure.Should().BeNull();
        applied!.AllowedOrigins.Should().Equal("https://a.example", "https://b.example:8443");
    }

    [Fact]
    public async Task Start_AllowedOriginsCommaSeparatedThroughTheConfigurationOverload_AllowsEach()
    {
        WebSocketPoolOptions? applied = null;
        var failure = await StartAsync(
            new() { ["Pool:AllowedOrigins"] = "https://a.example,https://b.example" },
            (services, configuration) => services.AddWebSocketPooling(configuration.GetSection("Pool")),
            app => applied = app.Services.GetRequiredService<IOptions<WebSocketPoolOptions>>().Value);

        failure.Should().BeNull();
        applied!.AllowedOrigins.Should().Equal("https://a.example", "https://b.example");
    }

    /// <summary>Builds and starts a real host with <c>AddWebSocketPooling()</c> unless <paramref name="services"/> says otherwise; returns what stopped it, or null when it started.</summary>
    internal static Task<Exception?> StartAsync(Dictionary<string, string?> configuration, Action<IServiceCollection>? services = null, Action<WebApplication>? started = null) =>
        StartAsync(configuration, (s, _) => (services ?? (x => x.AddWebSocketPooling()))(s), started);

    /// <summary>Builds and starts a real host; returns what stopped it, or null when it started.</summary>
    private static async Task<Exception?> StartAsync(
        Dictionary<string, string?> configuration, Action<IServiceCollection, IConfiguration> services, Action<WebApplication>? started = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel().UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(configuration);
        services(builder.Services, builder.Configuration);
        await using var app = builder.Build();
        try
        {
            app.UseWebSocketPooling();
            await app.StartAsync();
        }
#pragma warning disable CA1031 // The test inspects whatever stopped the host.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            return ex;
        }

        started?.Invoke(app);
        await app.StopAsync();
        return null;
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace WebSocketPool.IntegrationTests.Hosting;

/// <summary>
/// The subprotocol and compression options are checked when the host starts: a subprotocol name that is null, empty, not
/// an RFC 6455 token or listed twice, a requirement without names, a window outside 9–15 or an unknown compression key
/// stops the host with a message naming the option; good values start and apply.
/// </summary>
public sealed class ProtocolOptionsValidationTests
{
    public static TheoryData<string?, string[]> BadNames => new()
    {
        { null, ["SubProtocols[1]", "null"] },
        { "", ["SubProtocols[1]", "not a valid subprotocol name"] },
        { "chat v2", ["SubProtocols[1]", "'chat v2'", "token"] },
        { "chat,v2", ["SubProtocols[1]", "'chat,v2'"] },
        { "chat/v2", ["SubProtocols[1]", "'chat/v2'"] },
        { "chät", ["SubProtocols[1]", "'chät'"] },
        { "json", ["SubProtocols", "'json' more than once"] },
    };

    [Theory]
    [MemberData(nameof(BadNames))]
    public async Task Start_BadSubProtocolNameFromCode_FailsNamingIt(string? name, string[] expected)
    {
        var failure = await StartAsync([], services => services.AddWebSocketPooling(o =>
        {
            o.SubProtocols.Add("json");
            o.SubProtocols.Add(name!);
        }));

        failure.Should().BeOfType<OptionsValidationException>();
        foreach (var fragment in expected)
        {
            failure!.Message.Should().Contain(fragment);
        }
    }

    [Fact]
    public async Task Start_DuplicateSubProtocolInConfiguration_Fails()
    {
        var failure = await StartAsync(new()
        {
            ["WebSocketPool:SubProtocols:0"] = "chat.v2",
            ["WebSocketPool:SubProtocols:1"] = "chat.v2",
        });

        failure.Should().BeOfType<OptionsValidationException>();
        failure!.Message.Should().Contain("'chat.v2' more than once");
    }

    [Fact]
    public async Task Start_RequireSubProtocolWithoutAny_Fails()
    {
        var failure = await StartAsync(new() { ["WebSocketPool:RequireSubProtocol"] = "true" });

        failure.Should().BeOfType<OptionsValidationException>();
        failure!.Message.Should().Contain("RequireSubProtocol").And.Contain("SubProtocols");
    }

    [Theory]
    [InlineData("8")]
    [InlineData("16")]
    public async Task Start_CompressionWindowOutOfRange_Fails(string bits)
    {
        var failure = await StartAsync(new() { ["WebSocketPool:Compression:ServerMaxWindowBits"] = bits });

        failure.Should().BeOfType<OptionsValidationException>();
        failure!.Message.Should().Contain("ServerMaxWindowBits").And.Contain("between 9 and 15");
    }

    [Fact]
    public async Task Start_UnknownCompressionKey_Fails()
    {
        var failure = await StartAsync(new() { ["WebSocketPool:Compression:Enable"] = "true" });

        failure.Should().NotBeNull("a misspelt key must not leave compression silently off");
        failure!.ToString().Should().Contain("Enable");
    }

    [Fact]
    public async Task Start_GoodValuesInConfiguration_StartAndApply()
    {
        WebSocketPoolOptions? applied = null;
        var failure = await StartAsync(
            new()
            {
                ["WebSocketPool:SubProtocols:0"] = "chat.v2",
                ["WebSocketPool:SubProtocols:1"] = "chat.v1",
                ["WebSocketPool:SubProtocols:2"] = "v1.stomp!#$%&'*+-^_`|~",
                ["WebSocketPool:RequireSubProtocol"] = "true",
                ["WebSocketPool:Compression:Enabled"] = "true",
                ["WebSocketPool:Compression:ServerMaxWindowBits"] = "9",
                ["WebSocketPool:Compression:DisableServerContextTakeover"] = "true",
            },
            started: app => applied = app.Services.GetRequiredService<IOptions<WebSocketPoolOptions>>().Value);

        failure.Should().BeNull();
        applied!.SubProtocols.Should().Equal("chat.v2", "chat.v1", "v1.stomp!#$%&'*+-^_`|~");
        applied.RequireSubProtocol.Should().BeTrue();
        applied.Compression.Enabled.Should().BeTrue();
        applied.Compression.ServerMaxWindowBits.Should().Be(9);
        applied.Compression.DisableServerContextTakeover.Should().BeTrue();
    }

    [Fact]
    public async Task Start_SubProtocolsAsOneCommaSeparatedValue_KeepsTheirOrder()
    {
        WebSocketPoolOptions? applied = null;
        var failure = await StartAsync(
            new() { ["WebSocketPool:SubProtocols"] = " chat.v2 , chat.v1,", ["WebSocketPool:AllowedOrigins"] = "https://a.example" },
            started: app => applied = app.Services.GetRequiredService<IOptions<WebSocketPoolOptions>>().Value);

        failure.Should().BeNull();
        applied!.SubProtocols.Should().Equal("chat.v2", "chat.v1");
        applied.AllowedOrigins.Should().Equal("https://a.example");
    }

    [Theory]
    [InlineData("WebSocketPool:Resume:Window", "2", new[] { "Resume.Window", "2 days", "00:02:00" })]
    [InlineData("WebSocketPool:Resume:Window", "00:00:00.500", new[] { "Resume.Window", "0.5 seconds" })]
    [InlineData("WebSocketPool:Resume:BufferBytes", "100", new[] { "BufferBytes", "between 1024 and 67108864" })]
    [InlineData("WebSocketPool:SubProtocols:0", "websocketpool.resume.v1+chat", new[] { "reserved", "Resume.Enabled" })]
    public async Task Start_BadResumeValue_FailsNamingIt(string key, string value, string[] expected)
    {
        var failure = await StartAsync(new() { [key] = value, ["WebSocketPool:Resume:Enabled"] = "true" });

        failure.Should().BeOfType<OptionsValidationException>();
        foreach (var fragment in expected)
        {
            failure!.Message.Should().Contain(fragment);
        }
    }

    [Fact]
    public async Task Start_UnknownResumeKey_Fails()
    {
        var failure = await StartAsync(new() { ["WebSocketPool:Resume:Enable"] = "true" });

        failure.Should().NotBeNull("a misspelt key must not leave resume silently off");
        failure!.ToString().Should().Contain("Enable");
    }

    [Fact]
    public async Task Start_ResumeValues_DefaultOffAndApplyFromConfiguration()
    {
        WebSocketPoolOptions? defaults = null;
        (await StartAsync([], started: app => defaults = app.Services.GetRequiredService<IOptions<WebSocketPoolOptions>>().Value)).Should().BeNull();
        defaults!.Resume.Enabled.Should().BeFalse();
        defaults.Resume.Window.Should().Be(TimeSpan.FromMinutes(2));
        defaults.Resume.BufferBytes.Should().Be(64 * 1024);

        WebSocketPoolOptions? applied = null;
        var failure = await StartAsync(
            new()
            {
                ["WebSocketPool:Resume:Enabled"] = "true",
                ["WebSocketPool:Resume:Window"] = "00:00:30",
                ["WebSocketPool:Resume:BufferBytes"] = "4096",
            },
            started: app => applied = app.Services.GetRequiredService<IOptions<WebSocketPoolOptions>>().Value);

        failure.Should().BeNull();
        applied!.Resume.Enabled.Should().BeTrue();
        applied.Resume.Window.Should().Be(TimeSpan.FromSeconds(30));
        applied.Resume.BufferBytes.Should().Be(4096);
    }

    private static Task<Exception?> StartAsync(
        Dictionary<string, string?> configuration, Action<IServiceCollection>? services = null, Action<WebApplication>? started = null) =>
        OptionsValidationTests.StartAsync(configuration, services, started);
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using System.Net.Http.Json;
using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;
using WebSocketPool.IntegrationTests.Infrastructure;
using WebSocketPool.IntegrationTests.Messaging;
using WebSocketPool.Internal;

namespace WebSocketPool.IntegrationTests.Diagnostics;

/// <summary>
/// Mistakes that used to pass in silence get a clear signal: a warning at start without a handler, a warning (once) when
/// the pool runs before authentication, refusal details that name the missing claim and the refused Origin, and the
/// descriptor budget's lowering logged once.
/// </summary>
public sealed class MistakeSignalTests
{
    [Fact]
    public async Task Start_NoHandlerRegistered_WarnsOnce()
    {
        // Arrange / Act
        await using var server = await PoolTestServer.StartAsync(services: s => s.AddFakeLogging());

        // Assert
        var warning = Records(server, 50).Should().ContainSingle().Subject;
        warning.Level.Should().Be(LogLevel.Warning);
        warning.Id.Name.Should().Be("NoHandlerRegistered");
        warning.Message.Should().Contain("AddHandler");
    }

    [Fact]
    public async Task Start_HandlerRegistered_DoesNotWarn()
    {
        await using var server = await PoolTestServer.StartAsync(pool: p => p.AddHandler<RecordingHandler>(), services: s => s.AddFakeLogging());

        Records(server, 50).Should().BeEmpty();
    }

    [Fact]
    public async Task Request_PoolBeforeUseAuthentication_WarnsOnceAndRefusesWithAHint()
    {
        // Arrange: the mistake, pool first
        await using var server = await StartWithHeaderAuthenticationAsync(app =>
        {
            app.UseWebSocketPooling();
            app.UseAuthentication();
        });
        using var http = new HttpClient { BaseAddress = server.BaseUri };

        // Act
        var first = await PreviewAsync(http, user: "alice");
        var second = await PreviewAsync(http, user: "alice");

        // Assert
        first.Status.Should().Be(HttpStatusCode.Unauthorized);
        second.Status.Should().Be(HttpStatusCode.Unauthorized);
        first.Problem!.Detail.Should().Contain("UseAuthentication() before UseWebSocketPooling()");
        var warning = Records(server, 51).Should().ContainSingle("the warning is logged once, not per request").Subject;
        warning.Level.Should().Be(LogLevel.Warning);
        warning.Id.Name.Should().Be("AuthenticationNotRun");
        warning.Message.Should().Contain("UseAuthentication() before app.UseWebSocketPooling()");
    }

    [Fact]
    public async Task Request_PoolAfterUseAuthentication_DoesNotWarn()
    {
        await using var server = await StartWithHeaderAuthenticationAsync(app =>
        {
            app.UseAuthentication();
            app.UseWebSocketPooling();
        });
        using var http = new HttpClient { BaseAddress = server.BaseUri };

        (await PreviewAsync(http, user: "alice")).Status.Should().Be(HttpStatusCode.OK);
        (await PreviewAsync(http, user: null)).Status.Should().Be(HttpStatusCode.Unauthorized);

        Records(server, 51).Should().BeEmpty();
    }

    [Fact]
    public async Task Unauthenticated_UserWithoutAKeyClaim_DetailNamesTheMissingClaim()
    {
        // Arrange: an authenticated principal with a role but neither a NameIdentifier nor a name
        await using var server = await PoolTestServer.StartAsync(
            pool: p => p.AddUserKeyResolver<DefaultUserKeyResolver>(),
            pipeline: app =>
            {
                app.Use((context, next) =>
                {
                    context.User = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Role, "reader")], "Test"));
                    return next(context);
                });
                app.UseWebSocketPooling();
            });
        using var http = new HttpClient { BaseAddress = server.BaseUri };

        // Act
        var refused = await PreviewAsync(http, user: null);

        // Assert
        refused.Status.Should().Be(HttpStatusCode.Unauthorized);
        refused.Problem!.Detail.Should().Contain(ClaimTypes.NameIdentifier).And.Contain(ClaimTypes.Name).And.Contain("IUserKeyResolver");
    }

    [Theory]
    [InlineData(null, "AllowedOrigins option (WebSocketPool:AllowedOrigins) empty")]
    [InlineData("https://chat.example", "not in the AllowedOrigins option (WebSocketPool:AllowedOrigins)")]
    public async Task Origin_Refused_DetailNamesTheOriginAndTheOption(string? allowed, string expected)
    {
        // Arrange
        await using var server = await PoolTestServer.StartAsync(o =>
        {
            if (allowed is not null)
            {
                o.AllowedOrigins.Add(allowed);
            }
        });
        using var http = new HttpClient { BaseAddress = server.BaseUri };
        using var request = new HttpRequestMessage(HttpMethod.Get, "/ws?user=alice");
        request.Headers.Add("Origin", "https://evil.example");

        // Act
        using var response = await http.SendAsync(request);
        var problem = await response.Content.ReadFromJsonAsync<ProblemDetails>();

        // Assert
        response.StatusCode.Should().Be(HttpStatusCode.Forbidden);
        problem!.Detail.Should().Contain("'https://evil.example'").And.Contain(expected);
    }

    [Fact]
    public void DescriptorBudget_CapAboveTheProcessLimit_LoweringLoggedOnce()
    {
        // Arrange: this machine's open-files limit is finite (20,000), far below the configured cap
        WebSocketPoolDescriptorBudget.TryReadOpenFilesLimit().Should().NotBeNull("the test needs a finite open-files limit");
        var services = new ServiceCollection().AddFakeLogging();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().Build());
        services.AddWebSocketPooling(o =>
        {
            o.MaxConnections = 1_000_000;
            o.MaxConnectionsPerUser = 10;
        });
        using var provider = services.BuildServiceProvider();

        // Act: the options are built by every way the pool and the host read them
        var fromOptions = provider.GetRequiredService<IOptions<WebSocketPoolOptions>>().Value;
        var fromMonitor = provider.GetRequiredService<IOptionsMonitor<WebSocketPoolOptions>>().CurrentValue;
        provider.GetRequiredService<IOptionsFactory<WebSocketPoolOptions>>().Create(Options.DefaultName);

        // Assert
        fromOptions.MaxConnections.Should().BeLessThan(1_000_000);
        fromMonitor.MaxConnections.Should().Be(fromOptions.MaxConnections);
        provider.GetFakeLogCollector().GetSnapshot().Where(r => r.Id.Id == 40).Should().ContainSingle();
    }

    private static List<FakeLogRecord> Records(PoolTestServer server, int id) =>
        [.. server.App.Services.GetFakeLogCollector().GetSnapshot().Where(r => r.Id.Id == id && r.Category?.StartsWith("WebSocketPool", StringComparison.Ordinal) == true)];

    private static Task<PoolTestServer> StartWithHeaderAuthenticationAsync(Action<WebApplication> pipeline) =>
        PoolTestServer.StartAsync(
            pool: p => p.AddHandler<RecordingHandler>().AddUserKeyResolver<DefaultUserKeyResolver>(),
            services: s =>
            {
                s.AddFakeLogging();
                s.AddAuthentication(HeaderAuthenticationHandler.SchemeName)
                    .AddScheme<AuthenticationSchemeOptions, HeaderAuthenticationHandler>(HeaderAuthenticationHandler.SchemeName, null);
            },
            pipeline: pipeline);

    private static async Task<(HttpStatusCode Status, ProblemDetails? Problem)> PreviewAsync(HttpClient http, string? user)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/ws");
        if (user is not null)
        {
            request.Headers.Add(HeaderAuthenticationHandler.HeaderName, user);
        }

        using var response = await http.SendAsync(request);
        var problem = response.StatusCode == HttpStatusCode.OK ? null : await response.Content.ReadFromJsonAsync<ProblemDetails>();
        return (response.StatusCode, problem);
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using Microsoft.Extensions.DependencyInjection;
using WebSocketPool.IntegrationTests.Infrastructure;

namespace WebSocketPool.IntegrationTests.Admission;

/// <summary>
/// Refusals are written through the app's <c>IProblemDetailsService</c> when it registered one, so
/// <c>AddProblemDetails(o =&gt; o.CustomizeProblemDetails = …)</c> shapes them as it shapes the app's other errors, while
/// the pool's own parts stay: <c>Connection: close</c>, <c>Retry-After</c> and the <c>reason</c>, <c>limit</c> and
/// <c>current</c> fields.
/// </summary>
public sealed class ProblemDetailsCustomizationTests : IDisposable
{
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };

    public void Dispose() => _http.Dispose();

    [Fact]
    public async Task Upgrade_UserAtLimitWithCustomizedProblemDetails_429IsShapedAndKeepsThePoolsFields()
    {
        // Arrange
        await using var server = await PoolTestServer.StartAsync(
            o => o.MaxConnectionsPerUser = 1,
            pool: p => p.AddHandler<CoreTestHandler>(),
            services: s => s.AddProblemDetails(o => o.CustomizeProblemDetails = context =>
            {
                context.ProblemDetails.Instance = context.HttpContext.Request.Path;
                context.ProblemDetails.Extensions["node"] = "node-a";
                context.ProblemDetails.Title = "[app] " + context.ProblemDetails.Title;
            }));
        using var open = await server.ConnectAsync("alice");

        // Act
        using var upgrade = await UpgradeProbe.SendAsync(_http, UpgradeProbe.PoolUri(server.BaseUri, "alice"));
        using var preview = await _http.GetAsync(UpgradeProbe.PoolUri(server.BaseUri, "alice"));

        // Assert: the app's customization ran on both, and nothing of the pool's answer was lost.
        foreach (var response in new[] { upgrade, preview })
        {
            var body = await UpgradeProbe.AssertRefusedAsync(response, HttpStatusCode.TooManyRequests, RejectionReasons.UserLimit);
            body.GetProperty("node").GetString().Should().Be("node-a", "the app's CustomizeProblemDetails shaped the refusal");
            body.GetProperty("instance").GetString().Should().Be("/ws");
            body.GetProperty("title").GetString().Should().Be("[app] Too many connections");
            body.GetProperty("limit").GetInt32().Should().Be(1);
            body.GetProperty("current").GetInt32().Should().Be(1);
            body.GetProperty("detail").GetString().Should().Contain("1 of 1");
            response.Headers.RetryAfter!.Delta.Should().BePositive();
        }

        server.Factory.GetConnectionCount("alice").Should().Be(1, "the refusals reserved nothing");
    }
}

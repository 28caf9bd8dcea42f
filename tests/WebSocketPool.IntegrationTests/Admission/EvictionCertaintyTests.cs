// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.DependencyInjection;
using WebSocketPool.IntegrationTests.Connections;
using WebSocketPool.IntegrationTests.Infrastructure;

namespace WebSocketPool.IntegrationTests.Admission;

/// <summary>
/// Under <see cref="OverflowPolicy.EvictOldest"/> a user's oldest connection is closed with 4001 only once the newcomer
/// that replaces it is certain. A newcomer the admission gate refuses, or one whose handshake fails before the upgrade,
/// must leave the existing connection open.
/// </summary>
public sealed class EvictionCertaintyTests
{
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Connect_GateRefusesTheNewcomer_OldestStaysOpenAndNewcomerGets503()
    {
        // Arrange: the gate admits the first connection and refuses every later one as if the cluster were unavailable.
        var gate = new ScriptedAdmissionGate
        {
            Decide = static (attempt, _, _) => Task.FromResult(attempt == 1
                ? WebSocketGateDecision.Admit()
                : WebSocketGateDecision.Refuse(RejectionReasons.ClusterUnavailable, 1, 0, null)),
        };
        await using var server = await StartAsync(gate);
        using var first = await server.ConnectAsync("u");
        await PoolTestServer.WaitUntilAsync(() => server.Factory.GetConnections("u").Count == 1, s_deadline, "the first connection is open");

        // Act
        var (second, status) = await CloseTestClient.TryConnectAsync(server, "u");

        // Assert
        second.Should().BeNull();
        status.Should().Be(503);
        await first.SendTextAsync("still here");
        (await first.ReceiveTextAsync()).Should().Be("still here", "the first connection is not evicted for a newcomer that was refused");
        server.Factory.GetSnapshot().Evicted.Should().Be(0);
        server.Factory.GetConnections("u").Should().ContainSingle();
        await PoolTestServer.WaitUntilAsync(
            () => server.Factory.GetConnectionCount("u") == 1 && server.Factory.ActiveConnections == 1 && gate.ReleasesOf(gate.Attempts.Last()) == 1,
            s_deadline,
            "the refused newcomer's reservation is given back");
    }

    [Fact]
    public async Task Connect_NewcomerAbortsWhileHeldInTheGate_OldestStaysOpen()
    {
        // Arrange: the gate holds the second handshake until the test releases it.
        var inGate = new TaskCompletionSource<CancellationToken>(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource<WebSocketGateDecision>(TaskCreationOptions.RunContinuationsAsynchronously);
        var gate = new ScriptedAdmissionGate
        {
            Decide = async (attempt, _, aborted) =>
            {
                if (attempt == 1)
                {
                    return WebSocketGateDecision.Admit();
                }

                inGate.TrySetResult(aborted);
                return await release.Task.WaitAsync(aborted);
            },
        };
        await using var server = await StartAsync(gate);
        using var first = await server.ConnectAsync("u");
        await PoolTestServer.WaitUntilAsync(() => server.Factory.GetConnections("u").Count == 1, s_deadline, "the first connection is open");
        await using var newcomer = await RawWebSocketClient.OpenAsync(server.BaseUri);
        await newcomer.SendRawAsync(RawWebSocketClient.UpgradeRequest(server.BaseUri, "u"));
        var aborted = await inGate.Task.WaitAsync(s_deadline);
        var newcomerId = gate.Attempts.Last();

        // Act: the newcomer vanishes during its handshake; then the gate lets it through, too late.
        newcomer.Reset();
        await PoolTestServer.WaitUntilAsync(() => aborted.IsCancellationRequested, s_deadline, "the server noticed the newcomer's abort");
        release.TrySetResult(WebSocketGateDecision.Admit());
        await PoolTestServer.WaitUntilAsync(() => gate.ReleasesOf(newcomerId) == 1, s_deadline, "the failed handshake's reservation is given back");

        // Assert
        await first.SendTextAsync("still here");
        (await first.ReceiveTextAsync()).Should().Be("still here", "the first connection is not evicted for a newcomer whose handshake failed");
        server.Factory.GetSnapshot().Evicted.Should().Be(0);
        server.Factory.GetConnections("u").Should().ContainSingle();
        await PoolTestServer.WaitUntilAsync(
            () => server.Factory.GetConnectionCount("u") == 1 && server.Factory.ActiveConnections == 1, s_deadline, "only the first connection is counted");
    }

    private static Task<PoolTestServer> StartAsync(ScriptedAdmissionGate gate) =>
        PoolTestServer.StartAsync(
            o =>
            {
                o.MaxConnectionsPerUser = 1;
                o.OverflowPolicy = OverflowPolicy.EvictOldest;
            },
            pool: p => p.AddHandler<CoreTestHandler>(),
            services: s => s.AddSingleton<IWebSocketAdmissionGate>(gate));
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.DependencyInjection;
using WebSocketPool.IntegrationTests.Infrastructure;

namespace WebSocketPool.IntegrationTests.Connections;

/// <summary>
/// Kicking a user also ends the user's connections that are still in their handshake: a connection admitted by the node
/// but not yet upgraded when <see cref="PooledWebSocketManagerFactory.DisconnectUser"/> runs must not come out of its
/// handshake as an open socket that escaped the kick.
/// </summary>
public sealed class HandshakeKickTests
{
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task DisconnectUser_WhileTheUsersHandshakeWaitsInTheAdmissionGate_ConnectionEndsKickedOrRefusedAndNothingStaysOpen()
    {
        // Arrange: the gate holds the handshake after the node admitted it and before the upgrade.
        var gate = new ScriptedAdmissionGate();
        var inGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource<WebSocketGateDecision>(TaskCreationOptions.RunContinuationsAsynchronously);
        gate.Decide = async (_, _, aborted) =>
        {
            inGate.TrySetResult();
            return await release.Task.WaitAsync(aborted);
        };
        await using var server = await PoolTestServer.StartAsync(
            pool: p => p.AddHandler<CoreTestHandler>(),
            services: s => s.AddSingleton<IWebSocketAdmissionGate>(gate));
        var connecting = CloseTestClient.TryConnectAsync(server, "kicked");
        await inGate.Task.WaitAsync(s_deadline);
        var id = gate.Attempts.Single();

        // Act
        server.Factory.DisconnectUser("kicked");
        release.TrySetResult(WebSocketGateDecision.Admit());
        var (client, status) = await connecting.WaitAsync(s_deadline);

        // Assert: either the upgrade was refused, or the socket that came out of it is closed as kicked.
        if (client is null)
        {
            status.Should().NotBe(101);
        }
        else
        {
            using (client)
            {
                (await client.ReceiveCloseStatusAsync(TimeSpan.FromSeconds(10))).Should().Be(WebSocketCloseCodes.Kicked,
                    "a connection whose user was kicked during its handshake is closed as kicked");
            }
        }

        await PoolTestServer.WaitUntilAsync(
            () => server.Factory.GetConnections("kicked").Count == 0 && server.Factory.GetConnectionCount("kicked") == 0 && server.Factory.ActiveConnections == 0,
            s_deadline,
            "no socket of the kicked user stays open or counted");
        await PoolTestServer.WaitUntilAsync(() => gate.ReleasesOf(id) >= 1, s_deadline, "the gate hears that the slot was given up");
        gate.ReleasesOf(id).Should().Be(1, "the gate hears of every slot given up exactly once");
    }
}

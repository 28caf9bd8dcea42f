// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using WebSocketPool.IntegrationTests.Infrastructure;

namespace WebSocketPool.IntegrationTests.Connections;

/// <summary>
/// Close codes and reasons are checked where they enter the public API: the codes an app may send are exactly
/// 1000–1003, 1007–1014 and 3000–4999, and a reason fits a control frame (at most 123 UTF-8 bytes). Anything else is an
/// <see cref="ArgumentOutOfRangeException"/> naming the argument, thrown before anything happens, so the connection stays
/// open and usable; a valid close reaches the client on the wire and releases the slot.
/// </summary>
public sealed class PublicApiBadInputTests
{
    public const string ConnectionClose = "WebSocketConnection.Close";
    public const string FactoryDisconnectUser = "Factory.DisconnectUser";
    public const string FactoryDisconnectConnection = "Factory.DisconnectConnection";
    public const string SenderDisconnectUser = "Sender.DisconnectUserAsync";
    public const string SenderDisconnectConnection = "Sender.DisconnectConnectionAsync";

    private const string User = "closer";
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(10);
    private static readonly string[] s_entryPoints = [ConnectionClose, FactoryDisconnectUser, FactoryDisconnectConnection, SenderDisconnectUser, SenderDisconnectConnection];
    private static readonly int[] s_invalidCodes = [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, -1];
    private static readonly int[] s_boundaryCodes = [1000, 1003, 1007, 1014, 3000, 4999];

    public static TheoryData<string, int> InvalidCodes => Cross(s_entryPoints, s_invalidCodes);

    public static TheoryData<string, int> BoundaryCodes => Cross(s_entryPoints, s_boundaryCodes);

    public static TheoryData<string, string> TooLongReasons => Cross(s_entryPoints, ["ascii-124", "two-byte-124", "three-byte-plus-ascii-124"]);

    public static TheoryData<string, string> LongestReasons => Cross(s_entryPoints, ["ascii-123", "two-byte-plus-ascii-123", "three-byte-123"]);

    public static TheoryData<string> DisconnectEntryPoints => [.. s_entryPoints.Where(e => e != ConnectionClose)];

    [Theory]
    [MemberData(nameof(InvalidCodes))]
    public Task Close_CodeOutsideAcceptedRanges_ThrowsArgumentOutOfRangeNamingCloseCodeAndConnectionStaysUsable(string entryPoint, int closeCode) =>
        WithServerAsync(async server =>
        {
            // Arrange
            using var client = await server.ConnectAsync(User);
            var connection = await OpenConnectionAsync(server);

            // Act
            var act = Call(server, entryPoint, connection, closeCode, reason: null);

            // Assert
            (await act.Should().ThrowAsync<ArgumentOutOfRangeException>()).WithParameterName(nameof(closeCode));
            await AssertStillUsableAsync(server, client, connection);
        });

    [Theory]
    [MemberData(nameof(TooLongReasons))]
    public Task Close_ReasonOver123Utf8Bytes_ThrowsArgumentOutOfRangeNamingReasonAndConnectionStaysUsable(string entryPoint, string reasonKind) =>
        WithServerAsync(async server =>
        {
            // Arrange
            using var client = await server.ConnectAsync(User);
            var connection = await OpenConnectionAsync(server);
            var reason = Reason(reasonKind);
            Encoding.UTF8.GetByteCount(reason).Should().Be(124);

            // Act
            var act = Call(server, entryPoint, connection, WebSocketCloseCodes.Kicked, reason);

            // Assert
            (await act.Should().ThrowAsync<ArgumentOutOfRangeException>()).WithParameterName("reason");
            await AssertStillUsableAsync(server, client, connection);
        });

    [Theory]
    [MemberData(nameof(LongestReasons))]
    public Task Close_ReasonOfExactly123Utf8Bytes_ReachesTheClientAndReleasesTheSlot(string entryPoint, string reasonKind) =>
        WithServerAsync(async server =>
        {
            // Arrange
            using var client = await server.ConnectAsync(User);
            var connection = await OpenConnectionAsync(server);
            var reason = Reason(reasonKind);
            Encoding.UTF8.GetByteCount(reason).Should().Be(123);

            // Act
            await Call(server, entryPoint, connection, 3000, reason)();

            // Assert
            (await client.ReceiveCloseStatusAsync(s_deadline)).Should().Be(3000);
            client.CloseStatusDescription.Should().Be(reason);
            await AssertReleasedAsync(server);
        });

    [Theory]
    [MemberData(nameof(BoundaryCodes))]
    public Task Close_BoundaryCodeOfAcceptedRange_ReachesTheClientOnTheWireAndReleasesTheSlot(string entryPoint, int closeCode) =>
        WithServerAsync(async server =>
        {
            // Arrange
            using var client = await server.ConnectAsync(User);
            var connection = await OpenConnectionAsync(server);

            // Act
            await Call(server, entryPoint, connection, closeCode, "bye")();

            // Assert
            (await client.ReceiveCloseStatusAsync(s_deadline)).Should().Be(closeCode);
            client.CloseStatusDescription.Should().Be("bye");
            await AssertReleasedAsync(server);
        });

    [Theory]
    [MemberData(nameof(DisconnectEntryPoints))]
    public Task Disconnect_UnknownTargetWithInvalidCode_ThrowsAlthoughNothingWouldBeClosed(string entryPoint) =>
        WithServerAsync(async server =>
        {
            // Arrange: nobody is connected; the arguments are still checked where they enter.
            var unknownId = server.Factory.NodeId + "-12345";
            Func<Task> act = entryPoint switch
            {
                FactoryDisconnectUser => () => Task.FromResult(server.Factory.DisconnectUser("nobody", 1004)),
                FactoryDisconnectConnection => () => Task.FromResult(server.Factory.DisconnectConnection(unknownId, 1004)),
                SenderDisconnectUser => async () => await server.Sender.DisconnectUserAsync("nobody", 1004),
                _ => async () => await server.Sender.DisconnectConnectionAsync(unknownId, 1004),
            };

            // Act / Assert
            (await act.Should().ThrowAsync<ArgumentOutOfRangeException>()).WithParameterName("closeCode");
        });

    /// <summary>
    /// Runs <paramref name="test"/> against a fresh server. When the test fails, a failure while stopping the server (a
    /// connection the failure left behind) is not allowed to replace the test's own, more telling, failure.
    /// </summary>
    private static async Task WithServerAsync(Func<PoolTestServer, Task> test)
    {
        var server = await PoolTestServer.StartAsync(o => o.ShutdownTimeout = TimeSpan.Zero, pool: p => p.AddHandler<CoreTestHandler>());
        try
        {
            await test(server);
        }
        catch
        {
            try
            {
                await server.DisposeAsync();
            }
            catch (Exception ex) when (ex is ObjectDisposedException or InvalidOperationException or OperationCanceledException)
            {
                // Reported through the test's own failure, which is rethrown below.
            }

            throw;
        }

        await server.DisposeAsync();
    }

    private static async Task<WebSocketConnection> OpenConnectionAsync(PoolTestServer server)
    {
        await PoolTestServer.WaitUntilAsync(() => server.Factory.GetConnections(User).Count == 1, s_deadline, "the connection is open");
        return server.Factory.GetConnections(User).Single();
    }

    private static Func<Task> Call(PoolTestServer server, string entryPoint, WebSocketConnection connection, int closeCode, string? reason) => entryPoint switch
    {
        ConnectionClose => () => Task.FromResult(connection.Close(closeCode, reason)),
        FactoryDisconnectUser => () => Task.FromResult(server.Factory.DisconnectUser(connection.UserKey, closeCode, reason)),
        FactoryDisconnectConnection => () => Task.FromResult(server.Factory.DisconnectConnection(connection.ConnectionId, closeCode, reason)),
        SenderDisconnectUser => async () => await server.Sender.DisconnectUserAsync(connection.UserKey, closeCode, reason),
        SenderDisconnectConnection => async () => await server.Sender.DisconnectConnectionAsync(connection.ConnectionId, closeCode, reason),
        _ => throw new ArgumentOutOfRangeException(nameof(entryPoint), entryPoint, "Unknown entry point."),
    };

    /// <summary>The refused call changed nothing: the same lease is open, counted once, and echoes.</summary>
    private static async Task AssertStillUsableAsync(PoolTestServer server, ClientWebSocket client, WebSocketConnection connection)
    {
        connection.IsActive.Should().BeTrue("a refused close leaves the connection open");
        server.Factory.GetConnections(User).Should().ContainSingle().Which.Should().Be(connection);
        server.Factory.GetConnectionCount(User).Should().Be(1);
        server.Factory.ActiveConnections.Should().Be(1);
        connection.SendText("direct").Should().Be(SendResult.Queued);
        (await client.ReceiveTextAsync()).Should().Be("direct");
        await client.SendTextAsync("echo");
        (await client.ReceiveTextAsync()).Should().Be("echo");
        client.State.Should().Be(WebSocketState.Open);
    }

    private static Task AssertReleasedAsync(PoolTestServer server) =>
        PoolTestServer.WaitUntilAsync(
            () => server.Factory.ActiveConnections == 0 && server.Factory.GetConnectionCount(User) == 0 && server.Factory.GetConnections(User).Count == 0,
            s_deadline,
            "the closed connection's slot is released");

    private static string Reason(string kind) => kind switch
    {
        "ascii-124" => new string('r', 124),
        "two-byte-124" => new string('é', 62),
        "three-byte-plus-ascii-124" => new string('€', 41) + "a",
        "ascii-123" => new string('r', 123),
        "two-byte-plus-ascii-123" => new string('é', 61) + "a",
        "three-byte-123" => new string('€', 41),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown reason kind."),
    };

    private static TheoryData<string, T> Cross<T>(string[] entryPoints, T[] values)
    {
        var data = new TheoryData<string, T>();
        foreach (var entryPoint in entryPoints)
        {
            foreach (var value in values)
            {
                data.Add(entryPoint, value);
            }
        }

        return data;
    }
}

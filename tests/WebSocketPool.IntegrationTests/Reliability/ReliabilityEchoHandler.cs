// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using System.Text;

namespace WebSocketPool.IntegrationTests.Reliability;

/// <summary>
/// Echoes every message back. On connect it checks that the manager it got carries nothing from an earlier
/// connection (items bag empty) and leaves a mark there, so reuse of a dirty manager would be seen.
/// </summary>
internal sealed class ReliabilityEchoHandler : WebSocketHandler
{
    private static int s_dirtyLeases;
    private static int s_connected;
    private static readonly int[] s_reasons = new int[Enum.GetValues<DisconnectReason>().Length];

    /// <summary>Gets how many connections started with a manager that still held an earlier connection's items.</summary>
    public static int DirtyLeases => Volatile.Read(ref s_dirtyLeases);

    /// <summary>Gets how many connections this handler has seen accepted, in this process.</summary>
    public static int Connected => Volatile.Read(ref s_connected);

    /// <summary>Gets the exception of the last connection that ended with one, for diagnostics.</summary>
    public static Exception? LastException { get; private set; }

    /// <summary>Gets a line that counts the ended connections by reason, for diagnostics.</summary>
    public static string DescribeEnds() =>
        string.Join(", ", Enum.GetValues<DisconnectReason>().Select(r => $"{r} {EndedFor(r)}")) + "; last exception: " + LastException;

    /// <summary>Gets how many connections have ended for <paramref name="reason"/>, in this process.</summary>
    public static int EndedFor(DisconnectReason reason) => Volatile.Read(ref s_reasons[(int)reason]);

    public override ValueTask OnConnectedAsync(WebSocketConnection connection, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref s_connected);
        if (connection.Items.Count != 0)
        {
            Interlocked.Increment(ref s_dirtyLeases);
        }

        connection.Items["owner"] = connection.ConnectionId;
        return default;
    }

    public override ValueTask OnMessageAsync(WebSocketConnection connection, WebSocketMessage message, CancellationToken cancellationToken)
    {
        connection.Send(message.Payload.ToArray(), message.MessageType);
        return default;
    }

    public override ValueTask OnDisconnectedAsync(WebSocketConnection connection, WebSocketDisconnect disconnect)
    {
        Interlocked.Increment(ref s_reasons[(int)disconnect.Reason]);
        LastException = disconnect.Exception;
        return default;
    }

    /// <summary>Proves the server still serves: a fresh, well-behaved client gets its message echoed and closes cleanly.</summary>
    public static async Task AssertEchoRoundTripAsync(PoolTestServer server, string user = "bystander")
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        using var client = await server.ConnectAsync(user, cts.Token);
        var text = "still serving " + Guid.NewGuid().ToString("N");
        await client.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, cts.Token);
        var buffer = new byte[256];
        var result = await client.ReceiveAsync(buffer, cts.Token);
        Encoding.UTF8.GetString(buffer, 0, result.Count).Should().Be(text, "the server keeps echoing for everyone else");
        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, cts.Token);
        DirtyLeases.Should().Be(0, "no connection ever starts with another connection's state");
    }
}

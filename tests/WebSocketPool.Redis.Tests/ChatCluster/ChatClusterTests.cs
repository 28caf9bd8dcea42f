// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using System.Text.Json;
using StackExchange.Redis;
using WebSocketPool.Redis.Tests.Infrastructure;

namespace WebSocketPool.Redis.Tests.ChatCluster;

/// <summary>
/// Two ChatServer samples as separate processes, nodes of one cluster through a real redis-server: what a user behind a
/// load balancer sees when their requests and sockets land on different nodes.
/// </summary>
[Collection(UsesRedis.Name)]
public sealed class ChatClusterTests(RedisServerFixture redis)
{
    [Fact]
    public async Task Login_CookieFromNodeA_AcceptedByNodeB()
    {
        // Arrange
        var prefix = NewPrefix();
        await using var a = await ChatNode.StartAsync(redis.Server.Configuration, prefix);
        await using var b = await ChatNode.StartAsync(redis.Server.Configuration, prefix);

        // Act: sign in on A; present the cookie to B (the key ring is shared through Redis).
        var cookie = await a.LoginAsync("alice");
        var (status, body) = await b.PreviewAsync(cookie);
        var (anonymousStatus, _) = await b.PreviewAsync(cookie: null);

        // Assert
        status.Should().Be(HttpStatusCode.OK, "node B decrypts the cookie node A issued: {0}", body);
        using var preview = JsonDocument.Parse(body);
        preview.RootElement.GetProperty("user").GetString().Should().Be("alice");
        anonymousStatus.Should().Be(HttpStatusCode.Unauthorized, "without the cookie B knows no user");
        await using (var multiplexer = await ConnectionMultiplexer.ConnectAsync(redis.Server.Configuration))
        {
            (await multiplexer.GetDatabase().ListLengthAsync(prefix + ":dataprotection-keys"))
                .Should().BeGreaterThan(0, "the key ring lives in Redis under the cluster's prefix");
        }

        await using (var other = await ChatNode.StartAsync(redis.Server.Configuration, NewPrefix()))
        {
            (await other.PreviewAsync(cookie)).Status.Should().Be(HttpStatusCode.Unauthorized,
                "a node of another cluster (another prefix, so another key ring) cannot read the cookie");
        }

        var socket = await b.ConnectAsync(cookie);
        var hello = await socket.ReceiveJsonAsync();
        hello.GetProperty("type").GetString().Should().Be("hello");
        hello.GetProperty("user").GetString().Should().Be("alice");
        await socket.CloseQuietlyAsync();
    }

    [Fact]
    public async Task Logout_OnNodeB_CopyOfTheCookieRefusedOnNodeA()
    {
        // Arrange: alice signs in on A; a copy of her cookie works on both nodes.
        var prefix = NewPrefix();
        await using var a = await ChatNode.StartAsync(redis.Server.Configuration, prefix);
        await using var b = await ChatNode.StartAsync(redis.Server.Configuration, prefix);
        var cookie = await a.LoginAsync("alice");
        (await a.PreviewAsync(cookie)).Status.Should().Be(HttpStatusCode.OK);
        var socket = await a.ConnectAsync(cookie);
        (await socket.ReceiveJsonAsync()).GetProperty("type").GetString().Should().Be("hello");

        // Act: she signs out through node B.
        var logout = await b.LogoutAsync(cookie);

        // Assert: the session is revoked cluster-wide: node A refuses the same cookie, and her socket on A was closed.
        logout.Should().Be(HttpStatusCode.NoContent);
        (await a.PreviewAsync(cookie)).Status.Should().Be(HttpStatusCode.Unauthorized, "the session stamp lives in Redis, shared by both nodes");
        (await a.TryConnectStatusAsync(cookie)).Should().Be(401);
        (await b.PreviewAsync(cookie)).Status.Should().Be(HttpStatusCode.Unauthorized);
        (await socket.ReceiveCloseAsync()).Should().Be(4003, "the sign-out closes her sockets on every node");
        await using (var multiplexer = await ConnectionMultiplexer.ConnectAsync(redis.Server.Configuration))
        {
            (await multiplexer.GetDatabase().KeyTimeToLiveAsync(prefix + ":session-stamp:alice"))
                .Should().NotBeNull("the revocation is remembered only as long as a cookie of that session could live");
        }

        // A new sign-in works on either node.
        var fresh = await b.LoginAsync("alice");
        (await a.PreviewAsync(fresh)).Status.Should().Be(HttpStatusCode.OK);
    }

    [Fact]
    public async Task ChatAndDirectMessage_UsersOnDifferentNodes_ReachBothAndPresenceListsBoth()
    {
        // Arrange: alice on A, bob on B.
        var prefix = NewPrefix();
        await using var a = await ChatNode.StartAsync(redis.Server.Configuration, prefix);
        await using var b = await ChatNode.StartAsync(redis.Server.Configuration, prefix);
        var aliceCookie = await a.LoginAsync("alice");
        var bobCookie = await b.LoginAsync("bob");
        var alice = await a.ConnectAsync(aliceCookie);
        (await alice.ReceiveJsonAsync()).GetProperty("type").GetString().Should().Be("hello", "hello comes first");
        var bob = await b.ConnectAsync(bobCookie);
        var bobHello = await bob.ReceiveJsonAsync();
        bobHello.GetProperty("type").GetString().Should().Be("hello", "hello comes first");
        bobHello.GetProperty("connections").GetInt32().Should().Be(1);

        // Assert: each node's panel lists both users.
        await alice.WaitForPresenceAsync("alice's panel (node A) lists bob, who is on node B", ("alice", 1), ("bob", 1));
        await bob.WaitForPresenceAsync("bob's panel (node B) lists alice, who is on node A", ("alice", 1), ("bob", 1));

        // Act + assert: a DM from alice (A) reaches bob (B) and alice's own connection; no "unknown_user".
        await alice.SendDirectAsync("bob", "hi bob");
        var received = await bob.ReceiveUntilAsync(ChatSocket.OfType("dm"), "bob gets alice's DM across nodes");
        received.GetProperty("from").GetString().Should().Be("alice");
        received.GetProperty("to").GetString().Should().Be("bob");
        received.GetProperty("text").GetString().Should().Be("hi bob");
        var echoed = await alice.ReceiveUntilAsync(ChatSocket.OfType("dm"), "alice's own connection sees her DM");
        echoed.GetProperty("text").GetString().Should().Be("hi bob");

        // Act + assert: a chat message from bob (B) reaches both.
        await bob.SendChatAsync("hello all");
        (await alice.ReceiveUntilAsync(ChatSocket.OfType("chat"), "alice gets bob's chat across nodes"))
            .GetProperty("text").GetString().Should().Be("hello all");
        (await bob.ReceiveUntilAsync(ChatSocket.OfType("chat"), "bob gets his own chat"))
            .GetProperty("from").GetString().Should().Be("bob");

        // Act + assert: a DM to a user online nowhere is still refused.
        await bob.SendDirectAsync("carol", "anyone?");
        (await bob.ReceiveUntilAsync(ChatSocket.OfType("error"), "carol is online on no node"))
            .GetProperty("code").GetString().Should().Be("unknown_user");

        // Act + assert: alice's second connection, on B, counts her connections on every node.
        var aliceOnB = await b.ConnectAsync(aliceCookie);
        var secondHello = await aliceOnB.ReceiveJsonAsync();
        secondHello.GetProperty("type").GetString().Should().Be("hello", "hello comes first");
        secondHello.GetProperty("connections").GetInt32().Should().Be(2, "alice holds one connection on A and this one on B");
        await alice.WaitForPresenceAsync("node A's panel counts alice's connection on B", ("alice", 2), ("bob", 1));

        await aliceOnB.CloseQuietlyAsync();
        await bob.CloseQuietlyAsync();
        await alice.WaitForPresenceAsync("leaves on node B reach the panel on node A", ("alice", 1));
        await alice.CloseQuietlyAsync();
    }

    [Fact]
    public async Task Connect_UserAtLimitAcrossNodes_RefusedOnEitherNodeUntilOneCloses()
    {
        // Arrange: a limit of 2; alice holds one connection on A and one on B.
        var prefix = NewPrefix();
        await using var a = await ChatNode.StartAsync(redis.Server.Configuration, prefix, "--WebSocketPool:MaxConnectionsPerUser=2");
        await using var b = await ChatNode.StartAsync(redis.Server.Configuration, prefix, "--WebSocketPool:MaxConnectionsPerUser=2");
        var cookie = await a.LoginAsync("alice");
        var onA = await a.ConnectAsync(cookie);
        var onB = await b.ConnectAsync(cookie);
        (await onB.ReceiveJsonAsync()).GetProperty("connections").GetInt32().Should().Be(2);

        // Act
        var (previewA, previewBodyA) = await a.PreviewAsync(cookie);
        var (previewB, _) = await b.PreviewAsync(cookie);
        var handshakeA = await a.TryConnectStatusAsync(cookie);
        var handshakeB = await b.TryConnectStatusAsync(cookie);

        // Assert: each node holds only one of alice's connections, yet both refuse a third.
        previewA.Should().Be(HttpStatusCode.TooManyRequests, "the limit counts alice's connections on every node: {0}", previewBodyA);
        previewB.Should().Be(HttpStatusCode.TooManyRequests);
        handshakeA.Should().Be(429);
        handshakeB.Should().Be(429);

        // Act + assert: closing the connection on B frees the slot for A at once (released, not left to expire).
        await onB.CloseQuietlyAsync();
        await Conditions.WaitAsync(async () => (await a.PreviewAsync(cookie)).Status == HttpStatusCode.OK, Clients.Deadline,
            "node A admits alice again once her connection on B is closed");
        var again = await a.ConnectAsync(cookie);
        (await again.ReceiveJsonAsync()).GetProperty("connections").GetInt32().Should().Be(2);
        await again.CloseQuietlyAsync();
        await onA.CloseQuietlyAsync();
    }

    [Fact]
    public async Task Presence_NodeKilled_ItsUsersLeaveThePanelOfTheOtherNode()
    {
        // Arrange: a short lease TTL; alice on A, bob on B.
        var prefix = NewPrefix();
        string[] args = ["--Redis:LeaseTtl=00:00:02", "--Redis:OperationTimeout=00:00:01"];
        await using var a = await ChatNode.StartAsync(redis.Server.Configuration, prefix, args);
        await using var b = await ChatNode.StartAsync(redis.Server.Configuration, prefix, args);
        var alice = await a.ConnectAsync(await a.LoginAsync("alice"));
        var bob = await b.ConnectAsync(await b.LoginAsync("bob"));
        await alice.WaitForPresenceAsync("alice's panel lists bob", ("alice", 1), ("bob", 1));

        // Act: kill -9 node B; it sends no leave and releases nothing.
        await b.KillAsync();
        bob.Abort();
        bob.Dispose();

        // Assert: once bob's lease expires, node A's periodic refresh drops him from alice's panel, and DMs to him are refused.
        await alice.WaitForPresenceAsync("bob's lease expired and node A re-sent the list", TimeSpan.FromSeconds(20), ("alice", 1));
        await alice.SendDirectAsync("bob", "still there?");
        (await alice.ReceiveUntilAsync(ChatSocket.OfType("error"), "bob is online on no node"))
            .GetProperty("code").GetString().Should().Be("unknown_user");
        await alice.CloseQuietlyAsync();
    }

    private static string NewPrefix() => "chat" + Guid.NewGuid().ToString("N")[..12];
}

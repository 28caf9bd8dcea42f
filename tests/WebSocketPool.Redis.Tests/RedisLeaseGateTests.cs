// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using System.Text.Json;
using StackExchange.Redis;
using WebSocketPool.Redis.Tests.Infrastructure;

namespace WebSocketPool.Redis.Tests;

[Collection(UsesRedis.Name)]
public sealed class RedisLeaseGateTests(RedisServerFixture redis)
{
    private static string NewPrefix() => "t" + Guid.NewGuid().ToString("N")[..12];

    [Fact]
    public async Task Connect_UserHoldingLimitAcrossTwoNodes_RefusedWith429OnEitherNode()
    {
        var prefix = NewPrefix();
        await using var a = await PoolNode.StartAsync(redis.Server.Configuration, prefix, o => o.MaxConnectionsPerUser = 3);
        await using var b = await PoolNode.StartAsync(redis.Server.Configuration, prefix, o => o.MaxConnectionsPerUser = 3);
        var held = new[] { await a.ConnectAsync("ivy"), await a.ConnectAsync("ivy"), await b.ConnectAsync("ivy") };

        var onA = await a.TryConnectStatusAsync("ivy");
        var onB = await b.TryConnectStatusAsync("ivy");

        onA.Should().Be(429);
        onB.Should().Be(429);
        a.Factory.GetConnectionCount("ivy").Should().Be(2, "the refused attempt gave its local reservation back");
        b.Factory.GetConnectionCount("ivy").Should().Be(1);
        (await a.ClusterCountAsync("ivy")).Should().Be(3);

        // The non-upgrade preview tells a browser why, with the cluster-wide count.
        using var http = new HttpClient();
        using var preview = await http.GetAsync(new Uri(b.BaseUri, "/ws?user=ivy"));
        preview.StatusCode.Should().Be(HttpStatusCode.TooManyRequests);
        using var problem = JsonDocument.Parse(await preview.Content.ReadAsStringAsync());
        problem.RootElement.GetProperty("limit").GetInt32().Should().Be(3);
        problem.RootElement.GetProperty("current").GetInt32().Should().Be(3);
        preview.Headers.RetryAfter.Should().NotBeNull();

        foreach (var socket in held)
        {
            await socket.CloseQuietlyAsync();
        }
    }

    [Fact]
    public async Task Close_ConnectionOnOneNode_FreesTheSlotOnTheOtherAtOnce()
    {
        var prefix = NewPrefix();
        static void LongTtl(RedisWebSocketPoolOptions o) => o.LeaseTtl = TimeSpan.FromSeconds(60);
        await using var a = await PoolNode.StartAsync(redis.Server.Configuration, prefix, o => o.MaxConnectionsPerUser = 2, LongTtl);
        await using var b = await PoolNode.StartAsync(redis.Server.Configuration, prefix, o => o.MaxConnectionsPerUser = 2, LongTtl);
        var first = await a.ConnectAsync("jack");
        var second = await b.ConnectAsync("jack");
        (await a.TryConnectStatusAsync("jack")).Should().Be(429);

        await second.CloseQuietlyAsync();
        await Conditions.PollAsync(() => b.Factory.ActiveConnections == 0, Clients.Deadline, "B released its slot");

        // Released in Redis when the slot was (B's release and A's query race only by a round trip): no TTL has to pass.
        // The leases here live 60 s, so only the release can have removed it before the deadline.
        await Conditions.WaitAsync(async () => await a.ClusterCountAsync("jack") == 1, Clients.Deadline,
            "B's release deleted the lease (its 60 s TTL cannot have run out)");
        var third = await a.ConnectAsync("jack");
        (await a.ClusterCountAsync("jack")).Should().Be(2);
        await first.CloseQuietlyAsync();
        await third.CloseQuietlyAsync();
        await Conditions.WaitAsync(async () => await a.NoLeasesInRedisAsync(), Clients.Deadline,
            "every lease is gone from Redis once every socket closed");
        a.Gate.LeaseCount.Should().Be(0);
        b.Gate.LeaseCount.Should().Be(0);
    }

    /// <summary>
    /// The oldest lease is the one admitted first, even when both were admitted within the same millisecond: leases are
    /// ranked by a cluster-wide admission sequence (ranking by server time let the connection ids break a tie).
    /// </summary>
    [Fact]
    public async Task EvictOldest_OldestLeaseOnOtherNode_ClosedThereWith4001()
    {
        var prefix = NewPrefix();
        void Evict(WebSocketPoolOptions o)
        {
            o.MaxConnectionsPerUser = 2;
            o.OverflowPolicy = OverflowPolicy.EvictOldest;
        }

        await using var a = await PoolNode.StartAsync(redis.Server.Configuration, prefix, Evict);
        await using var b = await PoolNode.StartAsync(redis.Server.Configuration, prefix, Evict);
        var oldest = await a.ConnectAsync("kate");
        await a.WaitOpenAsync("kate", 1);
        var middle = await b.ConnectAsync("kate");
        await b.WaitOpenAsync("kate", 1);
        await Conditions.WaitAsync(async () => await a.ClusterCountAsync("kate") == 2, Clients.Deadline, "both leases are registered cluster-wide");

        var newest = await b.ConnectAsync("kate");

        int? code;
        try
        {
            code = await oldest.ReceiveCloseAsync();
        }
        catch (OperationCanceledException ex)
        {
            // Say what the cluster looked like when the eviction did not arrive.
            var aIds = string.Join(",", a.Factory.GetConnections("kate").Select(c => c.ConnectionId));
            var bIds = string.Join(",", b.Factory.GetConnections("kate").Select(c => c.ConnectionId));
            aIds += " open:" + string.Join(",", a.Factory.OpenConnections.Select(p => $"{p.Key}:{p.Value.SocketState}/send={p.Value.IsOpenForSend}/slot={p.Value.HoldsSlot}/node={p.Value.HoldsNodeSlot}/ended={p.Value.IsEnded}"))
                + $" active={a.Factory.ActiveConnections} oldest client state={oldest.State}";
            throw new InvalidOperationException(
                $"No 4001 reached the oldest connection. A: [{aIds}] B: [{bIds}], cluster count {await a.ClusterCountAsync("kate")}, A leases {a.Gate.LeaseCount}, B leases {b.Gate.LeaseCount}.", ex);
        }

        code.Should().Be(WebSocketCloseCodes.Evicted);
        a.Factory.GetConnectionCount("kate").Should().Be(0, "A gave up the evicted connection's slot before sending 4001");

        // The evicted socket counts against A's MaxConnections until its closing handshake ends: the client answers.
        await oldest.CloseQuietlyAsync();
        await Conditions.PollAsync(() => a.Factory.ActiveConnections == 0, Clients.Deadline, "A released the evicted socket once it closed");
        (await a.ClusterCountAsync("kate")).Should().Be(2, "the oldest lease was handed over, never exceeding the limit");
        await middle.SendTextAsync("still here");
        (await middle.ReceiveTextAsync()).Should().Be("still here");
        oldest.Dispose();
        await middle.CloseQuietlyAsync();
        await newest.CloseQuietlyAsync();
    }

    [Fact]
    public async Task Heartbeat_ConnectionHeldPastSeveralTtls_LeaseStaysWhileTheNodeBeats()
    {
        var prefix = NewPrefix();
        await using var a = await PoolNode.StartAsync(redis.Server.Configuration, prefix, o => o.MaxConnectionsPerUser = 1, r =>
        {
            r.LeaseTtl = TimeSpan.FromSeconds(2);
            r.OperationTimeout = TimeSpan.FromSeconds(1);
        });
        var held = await a.ConnectAsync("liam");
        await using var probe = await ConnectionMultiplexer.ConnectAsync(redis.Server.Configuration);
        var db = probe.GetDatabase();
        var key = "{" + prefix + "}:leases:liam";
        var heartbeat = "{" + prefix + "}:hb:" + a.Factory.NodeId;
        (await db.SortedSetLengthAsync(key)).Should().Be(1);

        // The heartbeat key is renewed every third of the TTL: its remaining time rises again at least three times,
        // which spans more than two TTLs of the first one.
        var rises = 0;
        var last = double.MaxValue;
        await Conditions.WaitAsync(async () =>
        {
            var ttl = (await db.KeyTimeToLiveAsync(heartbeat))?.TotalMilliseconds ?? -1;
            ttl.Should().BePositive("the heartbeat of a live node never lapses");
            if (ttl > last)
            {
                rises++;
            }

            last = ttl;
            return rises >= 3;
        }, TimeSpan.FromSeconds(20), "the node keeps renewing its heartbeat");

        (await db.SortedSetLengthAsync(key)).Should().Be(1, "the lease itself is written once, never renewed");
        (await a.ClusterCountAsync("liam")).Should().Be(1);
        (await a.TryConnectStatusAsync("liam")).Should().Be(429, "a lease of a live node still counts");
        await held.CloseQuietlyAsync();
        await Conditions.WaitAsync(async () => !await db.KeyExistsAsync(key), Clients.Deadline,
            "the release deleted the lease (and the emptied key)");
    }

    [Fact]
    public async Task EvictOldest_AtTheNodesOwnLimit_OneNewcomerEvictsOneConnection()
    {
        var prefix = NewPrefix();
        await using var node = await PoolNode.StartAsync(redis.Server.Configuration, prefix, o =>
        {
            o.MaxConnectionsPerUser = 2;
            o.OverflowPolicy = OverflowPolicy.EvictOldest;
        });

        // The oldest connection talks; the second stays silent, so the node's own choice (silent longest) is the second,
        // while the cluster's oldest is the first.
        var oldest = await node.ConnectAsync("vera");
        var silent = await node.ConnectAsync("vera");
        await oldest.SendTextAsync("hello");
        (await oldest.ReceiveTextAsync()).Should().Be("hello");

        var newcomer = await node.ConnectAsync("vera");

        (await silent.ReceiveCloseAsync()).Should().Be(WebSocketCloseCodes.Evicted);
        await silent.CloseQuietlyAsync();
        await oldest.SendTextAsync("still here");
        (await oldest.ReceiveTextAsync()).Should().Be("still here", "one newcomer evicts one connection, not two");
        node.Factory.GetSnapshot().Evicted.Should().Be(1);
        await Conditions.WaitAsync(async () => await node.ClusterCountAsync("vera") == 2, Clients.Deadline, "the cluster counts the oldest and the newcomer");
        node.Factory.GetConnectionCount("vera").Should().Be(2);

        await oldest.CloseQuietlyAsync();
        await newcomer.CloseQuietlyAsync();
        await Conditions.WaitAsync(node.NoLeasesInRedisAsync, Clients.Deadline, "every lease is released");
    }

    [Fact]
    public async Task Connect_ManyAtOnceOnTwoNodes_ExactlyTheLimitAdmitted()
    {
        var prefix = NewPrefix();
        await using var a = await PoolNode.StartAsync(redis.Server.Configuration, prefix, o => o.MaxConnectionsPerUser = 5);
        await using var b = await PoolNode.StartAsync(redis.Server.Configuration, prefix, o => o.MaxConnectionsPerUser = 5);

        // 24 simultaneous attempts, 12 per node: each node alone would admit 5, the cluster only 5 in all.
        var attempts = Enumerable.Range(0, 24).Select(async i =>
        {
            var node = i % 2 == 0 ? a : b;
            try
            {
                return (Status: 101, Socket: (System.Net.WebSockets.ClientWebSocket?)await node.ConnectAsync("pia"));
            }
            catch (System.Net.WebSockets.WebSocketException)
            {
                return (Status: 429, Socket: null);
            }
        }).ToList();
        var results = await Task.WhenAll(attempts);

        results.Count(r => r.Status == 101).Should().Be(5);
        (a.Factory.GetConnectionCount("pia") + b.Factory.GetConnectionCount("pia")).Should().Be(5);
        (await a.ClusterCountAsync("pia")).Should().Be(5);
        foreach (var (_, socket) in results)
        {
            if (socket is not null)
            {
                await socket.CloseQuietlyAsync();
            }
        }

        await Conditions.WaitAsync(async () => await a.ClusterCountAsync("pia") == 0, Clients.Deadline, "all released");
    }

    [Fact]
    public async Task StopNode_Gracefully_ReleasesItsLeasesBeforeStopReturns()
    {
        var prefix = NewPrefix();
        var a = await PoolNode.StartAsync(redis.Server.Configuration, prefix, o => o.MaxConnectionsPerUser = 2);
        await using var b = await PoolNode.StartAsync(redis.Server.Configuration, prefix, o => o.MaxConnectionsPerUser = 2);
        var first = await a.ConnectAsync("owen");
        var second = await a.ConnectAsync("owen");
        (await b.TryConnectStatusAsync("owen")).Should().Be(429);

        await a.DisposeAsync();

        // No TTL to wait for: the drain released both slots and the node waited for Redis to process the releases.
        (await b.ClusterCountAsync("owen")).Should().Be(0);
        var again = await b.ConnectAsync("owen");
        await again.CloseQuietlyAsync();
        first.Dispose();
        second.Dispose();
    }

    [Fact]
    public async Task Preview_UserUnderClusterLimit_AnswersClusterWideCount()
    {
        var prefix = NewPrefix();
        await using var a = await PoolNode.StartAsync(redis.Server.Configuration, prefix, o => o.MaxConnectionsPerUser = 3);
        await using var b = await PoolNode.StartAsync(redis.Server.Configuration, prefix, o => o.MaxConnectionsPerUser = 3);
        var held = await a.ConnectAsync("mia");

        using var http = new HttpClient();
        using var preview = await http.GetAsync(new Uri(b.BaseUri, "/ws?user=mia"));

        preview.StatusCode.Should().Be(HttpStatusCode.OK);
        using var body = JsonDocument.Parse(await preview.Content.ReadAsStringAsync());
        body.RootElement.GetProperty("connections").GetInt32().Should().Be(1, "B answers with the count across the cluster");
        body.RootElement.GetProperty("limit").GetInt32().Should().Be(3);
        await held.CloseQuietlyAsync();
    }
}

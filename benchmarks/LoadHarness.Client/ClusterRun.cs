// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;

namespace LoadHarness.Client;

/// <summary>
/// One cluster of one server mode: a fresh redis-server and <see cref="ClusterSettings.Nodes"/> LoadHarness.Server
/// nodes on it, the idle connections held by child processes, and the receiving user. Node 1 (index 0) sends; the
/// receiving user's connections are on every other node, so each message crosses Redis. Every wait is bounded in
/// count and time; nothing here decides anything by a timing.
/// </summary>
internal sealed class ClusterRun : IAsyncDisposable
{
    /// <summary>The user whose connections are on every node but the sender's.</summary>
    public const string ReceivingUser = "cross";

    /// <summary>Prefixes of the idle users held for the small and the large size (user PREFIX{process}-{n}).</summary>
    public const string SmallHoldPrefix = "idle-a";

    public const string LargeHoldPrefix = "idle-b";

    private readonly List<ServerProcess> _nodes = [];
    private readonly List<HoldWorkers> _holds = [];
    private readonly string _mode;
    private readonly ClusterSettings _settings;
    private RedisServerProcess? _redis;
    private StampedReceivers? _receivers;
    private long _expectedDeliveries;
    private int _heldIdle;
    private bool _warm;

    private ClusterRun(string mode, ClusterSettings settings)
    {
        _mode = mode;
        _settings = settings;
    }

    public string Mode => _mode;

    public int RedisPid => _redis?.Pid ?? 0;

    private string NodeList => string.Join(',', _nodes.Select(n => n.BaseUrl));

    private ServerProcess Sender => _nodes[0];

    private RedisServerProcess Redis => _redis ?? throw new InvalidOperationException("Redis is not running.");

    private StampedReceivers Receivers => _receivers ?? throw new InvalidOperationException("The receiving user is not connected.");

    /// <summary>Starts Redis and the nodes; on failure, stops whatever had started.</summary>
    public static async Task<ClusterRun> StartAsync(string serverDll, string redisServer, string workDirectory, string mode, ClusterSettings settings)
    {
        var run = new ClusterRun(mode, settings);
        try
        {
            run._redis = await RedisServerProcess.StartAsync(redisServer, Path.Combine(workDirectory, $"redis-{mode}")).ConfigureAwait(false);
            string[] extra = ["--redis", run._redis.Address, "--lease-ttl", settings.LeaseTtl.TotalSeconds.ToString(CultureInfo.InvariantCulture)];
            for (var i = 0; i < settings.Nodes; i++)
            {
                run._nodes.Add(await ServerProcess.StartAsync(serverDll, mode, settings.NodeCap, extra).ConfigureAwait(false));
            }

            return run;
        }
        catch
        {
            await run.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async Task<JsonObject> DescribeAsync()
    {
        var info = await Redis.InfoAsync().ConfigureAwait(false);
        return new JsonObject
        {
            ["redisVersion"] = info.Text("redis_version"),
            ["redisPort"] = Redis.Port,
            ["redisPid"] = Redis.Pid,
            ["nodePids"] = new JsonArray(_nodes.Select(n => (JsonNode)n.Pid).ToArray()),
        };
    }

    /// <summary>Opens <paramref name="perNode"/> more idle connections on every node (each user has one on each node).</summary>
    public async Task<JsonObject> HoldAsync(int perNode, string prefix)
    {
        var started = Stopwatch.GetTimestamp();
        var total = perNode * _nodes.Count;
        var workers = await HoldWorkers.StartAsync(NodeList, _mode, total, _settings.ConnectionsPerClientProcess, prefix, TimeSpan.FromMinutes(15), TimeSpan.FromMinutes(60)).ConfigureAwait(false);
        _holds.Add(workers);
        _heldIdle += workers.Opened;
        var counted = await WaitForConnectionsAsync(_heldIdle + (_receivers?.Count ?? 0), TimeSpan.FromMinutes(2)).ConfigureAwait(false);
        return new JsonObject
        {
            ["perNode"] = perNode,
            ["attempted"] = total,
            ["opened"] = workers.Opened,
            ["failed"] = workers.Failed,
            ["statuses"] = workers.StatusesJson(),
            ["clientProcesses"] = (total + _settings.ConnectionsPerClientProcess - 1) / _settings.ConnectionsPerClientProcess,
            ["nodeConnections"] = new JsonArray(counted.PerNode.Select(c => (JsonNode)c).ToArray()),
            ["allCounted"] = counted.Reached,
            ["seconds"] = Math.Round(Stopwatch.GetElapsedTime(started).TotalSeconds, 1),
        };
    }

    /// <summary>Watches Redis for <see cref="ClusterSettings.IdleWindow"/> with every connection held and nothing sent.</summary>
    public async Task<JsonObject> IdleAsync(int perNode)
    {
        var nodeCpu0 = _nodes.Select(n => Cpu.SecondsOf(n.Pid)).ToArray();
        var before = await Redis.InfoAsync().ConfigureAwait(false);
        var started = Stopwatch.GetTimestamp();

        // A measurement window, not a wait for something to happen.
        await Task.Delay(_settings.IdleWindow).ConfigureAwait(false);
        var after = await Redis.InfoAsync().ConfigureAwait(false);
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var nodeCores = _nodes.Select((n, i) => (JsonNode)Math.Round((Cpu.SecondsOf(n.Pid) - nodeCpu0[i]) / seconds, 4)).ToArray();
        var delta = RedisInfo.Between(before, after);
        var rss = new JsonArray();
        var connections = 0;
        foreach (var node in _nodes)
        {
            var stats = await node.StatsAsync(gc: false).ConfigureAwait(false);
            rss.Add((long)stats["rssBytes"]!);
            connections += (int)stats["connections"]!;
        }

        return new JsonObject
        {
            ["perNode"] = perNode,
            ["connections"] = connections,
            ["windowSeconds"] = Math.Round(seconds, 2),
            ["commands"] = delta.Commands,
            ["commandsPerSecond"] = Math.Round(delta.Commands / seconds, 3),
            ["calls"] = delta.Calls,
            ["redisCpuSeconds"] = Math.Round(delta.CpuSeconds, 4),
            ["redisCpuPercentOfCore"] = Math.Round(100 * delta.CpuSeconds / seconds, 3),
            ["redisInputBytesPerSecond"] = Math.Round(delta.InputBytes / seconds, 1),
            ["redisOutputBytesPerSecond"] = Math.Round(delta.OutputBytes / seconds, 1),
            ["redisUsedMemoryBytes"] = after.Long("used_memory"),
            ["redisKeys"] = Keys(after),
            ["nodeCores"] = new JsonArray(nodeCores),
            ["nodeRssBytes"] = rss,
        };
    }

    /// <summary>Connects the receiving user on every node but the sender's.</summary>
    public async Task<JsonObject> OpenReceiversAsync()
    {
        _receivers = await StampedReceivers.OpenAsync(_nodes.Skip(1).Select(n => n.BaseUrl).ToList(), _mode, ReceivingUser, _settings.ReceiversPerNode, TimeSpan.FromMinutes(30)).ConfigureAwait(false);
        var counted = await WaitForConnectionsAsync(_heldIdle + _receivers.Count, TimeSpan.FromSeconds(60)).ConfigureAwait(false);
        return new JsonObject
        {
            ["user"] = ReceivingUser,
            ["connections"] = _receivers.Count,
            ["nodes"] = string.Join(", ", Enumerable.Range(2, _nodes.Count - 1)),
            ["senderNode"] = 1,
            ["nodeConnections"] = new JsonArray(counted.PerNode.Select(c => (JsonNode)c).ToArray()),
            ["allCounted"] = counted.Reached,
        };
    }

    /// <summary>
    /// Bytes each node exchanged with Redis for <see cref="ClusterSettings.BusBytesSends"/> sends to the receiving
    /// user, per send: the kernel's counters of each node's sockets to the Redis port, and Redis's own totals.
    /// </summary>
    public async Task<JsonObject> BusBytesAsync()
    {
        await WarmAsync().ConfigureAwait(false);
        var sends = _settings.BusBytesSends;
        var sockets0 = await SocketBytes.ToPortAsync(Redis.Port).ConfigureAwait(false);
        var info0 = await Redis.InfoAsync().ConfigureAwait(false);
        var complete = await SendRoundAsync(sends, TimeSpan.FromSeconds(60)).ConfigureAwait(false);
        var info1 = await Redis.InfoAsync().ConfigureAwait(false);
        var sockets1 = await SocketBytes.ToPortAsync(Redis.Port).ConfigureAwait(false);
        Receivers.TakeLatencies();
        var delta = RedisInfo.Between(info0, info1);
        var perNode = new JsonArray();
        for (var i = 0; i < _nodes.Count; i++)
        {
            var pid = _nodes[i].Pid;
            var node = new JsonObject
            {
                ["node"] = i + 1,
                ["role"] = i == 0 ? "sender" : $"{_settings.ReceiversPerNode} of the user's connections",
            };
            if (sockets0 is not null && sockets1 is not null)
            {
                var (sent0, received0) = sockets0.GetValueOrDefault(pid);
                var (sent1, received1) = sockets1.GetValueOrDefault(pid);
                node["receivedPerSend"] = Math.Round((received1 - received0) / (double)sends, 1);
                node["sentPerSend"] = Math.Round((sent1 - sent0) / (double)sends, 1);
            }

            perNode.Add(node);
        }

        return new JsonObject
        {
            ["method"] = sockets0 is null ? "Redis INFO totals only (ss was not available)" : "ss -tinp: bytes_received and bytes_acked of each node's TCP connections to the Redis port",
            ["sends"] = sends,
            ["payloadBytes"] = Wire.Payload.Length,
            ["allDelivered"] = complete,
            ["perNode"] = perNode,
            ["redisInputPerSend"] = Math.Round(delta.InputBytes / (double)sends, 1),
            ["redisOutputPerSend"] = Math.Round(delta.OutputBytes / (double)sends, 1),
            ["redisCommandsPerSend"] = Math.Round(delta.Commands / (double)sends, 3),
            ["calls"] = delta.Calls,
        };
    }

    /// <summary>
    /// Cross-node send-to-user throughput: the sender's node is asked for <see cref="ClusterSettings.MessagesPerTrigger"/>
    /// stamped messages at a time, and the next request waits until every copy has arrived on the other nodes.
    /// Latencies here include the queueing of each burst. The node awaits its sends one after another, as an app's
    /// loop would, or, when <paramref name="concurrent"/>, starts them all and then awaits them together.
    /// </summary>
    public async Task<JsonObject> ThroughputAsync(bool concurrent)
    {
        await WarmAsync().ConfigureAwait(false);
        Receivers.TakeLatencies();
        var info0 = await Redis.InfoAsync().ConfigureAwait(false);
        var cpu = new ClusterCpu(_nodes, RedisPid);
        var baseCount = Receivers.Counter.Count;
        var started = Stopwatch.GetTimestamp();
        var rounds = 0;
        var complete = true;
        while (rounds < 10_000 && Stopwatch.GetElapsedTime(started) < _settings.ThroughputDuration)
        {
            if (!await SendRoundAsync(_settings.MessagesPerTrigger, TimeSpan.FromSeconds(30), concurrent).ConfigureAwait(false))
            {
                complete = false;
                break;
            }

            rounds++;
        }

        var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var result = cpu.Stop();
        var redis = RedisInfo.Between(info0, await Redis.InfoAsync().ConfigureAwait(false));
        var delivered = Receivers.Counter.Count - baseCount;
        var latencies = Receivers.TakeLatencies();
        result["concurrentSends"] = concurrent;
        result["rounds"] = rounds;
        result["messagesPerTrigger"] = _settings.MessagesPerTrigger;
        result["receivers"] = Receivers.Count;
        result["delivered"] = delivered;
        result["deliveredPerSecond"] = Math.Round(delivered / elapsed, 1);
        result["allDelivered"] = complete;
        result["redisCommandsPerSecond"] = Math.Round(redis.Commands / elapsed, 1);
        result["redisCalls"] = redis.Calls;
        AddPercentiles(result, latencies);
        return result;
    }

    /// <summary>Latency without queueing: one message at a time, the next sent once every copy of the last has arrived.</summary>
    public async Task<JsonObject> PacedAsync()
    {
        await WarmAsync().ConfigureAwait(false);
        Receivers.TakeLatencies();
        var started = Stopwatch.GetTimestamp();
        var messages = 0;
        var complete = true;
        while (messages < _settings.PacedMaxMessages && Stopwatch.GetElapsedTime(started) < _settings.PacedDuration)
        {
            if (!await SendRoundAsync(1, TimeSpan.FromSeconds(10)).ConfigureAwait(false))
            {
                complete = false;
                break;
            }

            messages++;
        }

        var result = new JsonObject
        {
            ["messages"] = messages,
            ["messagesPerSecond"] = Math.Round(messages / Stopwatch.GetElapsedTime(started).TotalSeconds, 1),
            ["allDelivered"] = complete,
        };
        AddPercentiles(result, Receivers.TakeLatencies());
        return result;
    }

    /// <summary>
    /// Kills the last node with SIGKILL and asks the sender's node, every <see cref="ClusterSettings.KillPollInterval"/>,
    /// for the cluster-wide count of a user with connections there, until it drops (pool only: SignalR has no slots).
    /// </summary>
    public async Task<JsonObject> KillNodeAsync()
    {
        var observer = Sender;
        var victim = _nodes[^1];
        var idleUser = $"{LargeHoldPrefix}0-0"; // the first idle user of the large size: one connection on each node
        var users = new[] { ReceivingUser, idleUser };
        var before = new int[users.Length];
        for (var u = 0; u < users.Length; u++)
        {
            before[u] = await observer.ClusterCountAsync(users[u]).ConfigureAwait(false);
        }

        var dropped = new double?[users.Length];
        var after = new int[users.Length];
        var bound = (3 * _settings.LeaseTtl) + TimeSpan.FromSeconds(10);
        var killedAt = Stopwatch.GetTimestamp();
        victim.Kill();
        var polls = 0;
        for (; polls < 100_000 && Stopwatch.GetElapsedTime(killedAt) < bound && dropped.Any(d => d is null); polls++)
        {
            for (var u = 0; u < users.Length; u++)
            {
                if (dropped[u] is null)
                {
                    var count = await observer.ClusterCountAsync(users[u]).ConfigureAwait(false);
                    if (count < before[u])
                    {
                        dropped[u] = Math.Round(Stopwatch.GetElapsedTime(killedAt).TotalSeconds, 3);
                        after[u] = count;
                    }
                }
            }

            await Task.Delay(_settings.KillPollInterval).ConfigureAwait(false);
        }

        var ttl = _settings.LeaseTtl.TotalSeconds;
        var result = new JsonObject
        {
            ["killedNode"] = _nodes.Count,
            ["observerNode"] = 1,
            ["leaseTtlSeconds"] = ttl,
            ["heartbeatSeconds"] = Math.Round(ttl / 3, 3),
            ["pollIntervalMs"] = _settings.KillPollInterval.TotalMilliseconds,
            ["polls"] = polls,
        };
        var list = new JsonArray();
        for (var u = 0; u < users.Length; u++)
        {
            list.Add(new JsonObject
            {
                ["user"] = users[u],
                ["countBefore"] = before[u],
                ["countAfter"] = dropped[u] is null ? null : after[u],
                ["droppedAfterSeconds"] = dropped[u],
            });
        }

        result["users"] = list;
        var slowest = dropped.All(d => d is not null) ? dropped.Max() : null;
        result["droppedAfterSeconds"] = slowest;
        result["withinLeaseTtl"] = slowest is not null && slowest <= ttl;
        return result;
    }

    public async ValueTask DisposeAsync()
    {
        if (_receivers is not null)
        {
            await _receivers.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var hold in _holds)
        {
            await hold.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var node in _nodes)
        {
            await node.DisposeAsync().ConfigureAwait(false);
        }

        if (_redis is not null)
        {
            await _redis.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static JsonNode? Keys(RedisInfo info) =>
        info.Text("db0") is { Length: > 0 } db0 && db0.Split(',')[0].Split('=') is [_, var keys] ? long.Parse(keys, CultureInfo.InvariantCulture) : 0;

    private static void AddPercentiles(JsonObject result, LatencyHistogram latencies)
    {
        result["latencySamples"] = latencies.Count;
        result["p50Ms"] = latencies.Percentile(50) is { } p50 ? Math.Round(p50, 3) : null;
        result["p99Ms"] = latencies.Percentile(99) is { } p99 ? Math.Round(p99, 3) : null;
        result["maxMs"] = latencies.Count == 0 ? null : Math.Round(latencies.MaxMs, 3);
    }

    /// <summary>One unmeasured round, once, so that JIT, pools and subscriptions are warm before anything is timed.</summary>
    private async Task WarmAsync()
    {
        if (!_warm)
        {
            await SendRoundAsync(_settings.MessagesPerTrigger, TimeSpan.FromSeconds(60)).ConfigureAwait(false);
            Receivers.TakeLatencies();
            _warm = true;
        }
    }

    /// <summary>Asks the sender's node for <paramref name="count"/> stamped messages to the receiving user and waits for every copy.</summary>
    private async Task<bool> SendRoundAsync(int count, TimeSpan timeout, bool concurrent = false)
    {
        _expectedDeliveries += (long)count * Receivers.Count;
        var delivered = Receivers.Counter.ExpectAsync(_expectedDeliveries);
        var trigger = string.Create(CultureInfo.InvariantCulture, $"/bench/send-to-user?user={ReceivingUser}&count={count}&stamp=1{(concurrent ? "&concurrent=1" : string.Empty)}");
        using (var response = await Sender.Http.PostAsync(trigger, null).ConfigureAwait(false))
        {
            response.EnsureSuccessStatusCode();
        }

        try
        {
            await delivered.WaitAsync(timeout).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            // Pub/sub is at most once: count what did arrive, so that the next round waits for its own messages only.
            _expectedDeliveries = Receivers.Counter.Count;
            return false;
        }
    }

    private async Task<(bool Reached, int[] PerNode)> WaitForConnectionsAsync(int expected, TimeSpan timeout)
    {
        var started = Stopwatch.GetTimestamp();
        var perNode = new int[_nodes.Count];
        for (var attempt = 0; attempt < 100_000 && Stopwatch.GetElapsedTime(started) < timeout; attempt++)
        {
            for (var i = 0; i < _nodes.Count; i++)
            {
                perNode[i] = await _nodes[i].ConnectionsAsync().ConfigureAwait(false);
            }

            if (perNode.Sum() == expected)
            {
                return (true, perNode);
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100)).ConfigureAwait(false);
        }

        return (false, perNode);
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using System.Text.Json.Nodes;

namespace LoadHarness.Client;

/// <summary>CPU used over a span of work by this client, each node and Redis, in cores (CPU seconds per wall second).</summary>
internal sealed class ClusterCpu(IReadOnlyList<ServerProcess> nodes, int redisPid)
{
    private readonly double _client0 = Cpu.Self();
    private readonly double[] _nodes0 = nodes.Select(n => Cpu.SecondsOf(n.Pid)).ToArray();
    private readonly double _redis0 = Cpu.SecondsOf(redisPid);
    private readonly long _start = Stopwatch.GetTimestamp();

    public JsonObject Stop()
    {
        var wall = Stopwatch.GetElapsedTime(_start).TotalSeconds;
        var client = Math.Round((Cpu.Self() - _client0) / wall, 3);
        return new JsonObject
        {
            ["clientCores"] = client,
            ["nodeCores"] = new JsonArray(nodes.Select((n, i) => (JsonNode)Math.Round((Cpu.SecondsOf(n.Pid) - _nodes0[i]) / wall, 3)).ToArray()),
            ["redisCores"] = Math.Round((Cpu.SecondsOf(redisPid) - _redis0) / wall, 3),
            ["clientBound"] = client >= Scenarios.ClientBoundCores,
        };
    }
}

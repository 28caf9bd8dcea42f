// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Text.Json.Nodes;

namespace LoadHarness.Client;

/// <summary>Commands, bytes and CPU of Redis's other clients between two INFO snapshots (see <see cref="RedisInfo.Between"/>).</summary>
internal sealed record RedisDelta(long Commands, long InputBytes, long OutputBytes, double CpuSeconds, JsonObject Calls);

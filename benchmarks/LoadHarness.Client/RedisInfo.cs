// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Globalization;
using System.Text.Json.Nodes;

namespace LoadHarness.Client;

/// <summary>
/// One INFO ALL reply: its fields, the calls per command (commandstats), and the bytes the request and the reply took
/// on the harness's own connection, so that a difference of two snapshots can leave the harness's own traffic out.
/// </summary>
internal sealed class RedisInfo
{
    private readonly Dictionary<string, string> _fields = new(StringComparer.Ordinal);

    private RedisInfo(int requestBytes, int replyBytes)
    {
        RequestBytes = requestBytes;
        ReplyBytes = replyBytes;
    }

    public Dictionary<string, long> Calls { get; } = new(StringComparer.Ordinal);

    public int RequestBytes { get; }

    public int ReplyBytes { get; }

    public static RedisInfo Parse(string text, int requestBytes, int replyBytes)
    {
        var info = new RedisInfo(requestBytes, replyBytes);
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (line.Length == 0 || line[0] == '#' || colon < 0)
            {
                continue;
            }

            var (key, value) = (line[..colon], line[(colon + 1)..]);
            if (key.StartsWith("cmdstat_", StringComparison.Ordinal))
            {
                // cmdstat_evalsha:calls=12,usec=…
                var calls = value.Split(',')[0];
                info.Calls[key["cmdstat_".Length..]] = long.Parse(calls[(calls.IndexOf('=', StringComparison.Ordinal) + 1)..], CultureInfo.InvariantCulture);
            }
            else
            {
                info._fields[key] = value;
            }
        }

        return info;
    }

    public long Long(string key) => long.Parse(_fields[key], CultureInfo.InvariantCulture);

    public double Double(string key) => double.Parse(_fields[key], CultureInfo.InvariantCulture);

    public string Text(string key) => _fields.GetValueOrDefault(key, string.Empty);

    /// <summary>User + system CPU seconds of the Redis server process.</summary>
    public double CpuSeconds => Double("used_cpu_user") + Double("used_cpu_sys");

    /// <summary>
    /// What other clients did between two snapshots. INFO counts a command once it has run and its input bytes as
    /// they are read, so the span includes the first INFO itself (one command, one reply) and the second INFO's request.
    /// </summary>
    public static RedisDelta Between(RedisInfo before, RedisInfo after)
    {
        var calls = new JsonObject();
        foreach (var (command, n) in after.Calls.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            var delta = n - before.Calls.GetValueOrDefault(command) - (command == "info" ? 1 : 0);
            if (delta > 0)
            {
                calls[command] = delta;
            }
        }

        return new RedisDelta(
            Commands: after.Long("total_commands_processed") - before.Long("total_commands_processed") - 1,
            InputBytes: after.Long("total_net_input_bytes") - before.Long("total_net_input_bytes") - after.RequestBytes,
            OutputBytes: after.Long("total_net_output_bytes") - before.Long("total_net_output_bytes") - before.ReplyBytes,
            CpuSeconds: after.CpuSeconds - before.CpuSeconds,
            Calls: calls);
    }
}

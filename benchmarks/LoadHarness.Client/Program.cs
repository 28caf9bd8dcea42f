// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Globalization;
using LoadHarness.Client;

// Commands:
//   suite  --server DLL --out DIR [--quick|--full] [--repetitions N] [--modes bare,barequeued,signalr,pool] [--only idle,echo,sendToUser,sendToUserAmongOthers,broadcast,churn,broadcastChurn,cap,growth] [--others N]
//          [--quiet-wait SECONDS] [--quiet-threshold LOAD] [--no-pin] [--client light|clientwebsocket] [--no-inline-completions] [--server-cpus LIST] [--client-cpus LIST]
//          [--growth-steps 1000,5000,…] [--growth-rounds N] [--growth-modes bare,signalr,pool] [--broadcast-churn-connections N]
//   hold   --url URL[,URL…] --mode MODE --count N --prefix P [--lifetime-minutes M]   (a child process started by the suite)
//   report --raw DIR --out DIR [--micro FILE] [--footprint FILE] [--readme FILE] [--commit SHA] [--note TEXT]
//   cluster --server DLL --out DIR [--quick|--full] [--modes signalr,pool] [--redis-server PATH] [--small-per-node N] [--large-per-node N]
//   cluster-report --raw DIR --out DIR [--readme FILE] [--commit SHA] [--note TEXT]
var options = ParseOptions(args.Skip(1));
switch (args.FirstOrDefault())
{
    case "suite":
        var settings = Settings.For(quick: !options.ContainsKey("full"), options.TryGetValue("repetitions", out var r) ? int.Parse(r, CultureInfo.InvariantCulture) : null);
        if (options.TryGetValue("others", out var others))
        {
            settings = settings with { FanOutBackgroundConnections = int.Parse(others, CultureInfo.InvariantCulture) };
        }

        if (options.TryGetValue("client", out var client))
        {
            if (!LoadClients.All.Contains(client))
            {
                Console.Error.WriteLine($"--client must be one of {string.Join(", ", LoadClients.All)}.");
                return 2;
            }

            settings = settings with { Client = client };
        }

        if (options.TryGetValue("quiet-wait", out var quietWait))
        {
            settings = settings with { QuietWait = TimeSpan.FromSeconds(double.Parse(quietWait, CultureInfo.InvariantCulture)) };
        }

        if (options.TryGetValue("quiet-threshold", out var quietThreshold))
        {
            settings = settings with { QuietThreshold = double.Parse(quietThreshold, CultureInfo.InvariantCulture) };
        }

        if (options.TryGetValue("growth-steps", out var growthSteps))
        {
            settings = settings with { GrowthSteps = growthSteps.Split(',').Select(n => int.Parse(n, CultureInfo.InvariantCulture)).ToArray() };
        }

        if (options.TryGetValue("growth-rounds", out var growthRounds))
        {
            settings = settings with { GrowthRounds = int.Parse(growthRounds, CultureInfo.InvariantCulture) };
        }

        if (options.TryGetValue("growth-modes", out var growthModes))
        {
            settings = settings with { GrowthModes = growthModes.Split(',') };
        }

        if (options.TryGetValue("broadcast-churn-connections", out var broadcastChurn))
        {
            settings = settings with { BroadcastChurnConnections = int.Parse(broadcastChurn, CultureInfo.InvariantCulture) };
        }

        if (settings.GrowthSteps.Length == 0 || settings.GrowthSteps.Zip(settings.GrowthSteps.Skip(1)).Any(p => p.Second <= p.First)
            || settings.GrowthSteps[^1] + settings.GrowthEchoConnections > settings.GrowthCap)
        {
            Console.Error.WriteLine($"--growth-steps must rise, and the last step + {settings.GrowthEchoConnections} echoing connections must fit the growth cap ({settings.GrowthCap}).");
            return 2;
        }

        if (settings.Client == LoadClients.Light && !options.ContainsKey("no-inline-completions"))
        {
            InlineCompletions.Enable();
        }

        Pinning.Configure(!options.ContainsKey("no-pin"), options.GetValueOrDefault("server-cpus"), options.GetValueOrDefault("client-cpus"));
        var modes = options.TryGetValue("modes", out var m) ? m.Split(',') : ClientMode.All;
        return await SuiteCommand.RunAsync(Required("server"), Required("out"), settings, modes, options.TryGetValue("only", out var only) ? only.Split(',') : null);
    case "hold":
        var lifetime = TimeSpan.FromMinutes(options.TryGetValue("lifetime-minutes", out var minutes) ? double.Parse(minutes, CultureInfo.InvariantCulture) : 15);
        return await HoldCommand.RunAsync(Required("url"), Required("mode"), int.Parse(Required("count"), CultureInfo.InvariantCulture), Required("prefix"), lifetime);
    case "report":
        return ReportCommand.Run(Required("raw"), Required("out"), new ReportInputs(
            options.GetValueOrDefault("micro"), options.GetValueOrDefault("footprint"), options.GetValueOrDefault("readme"), options.GetValueOrDefault("commit"), options.GetValueOrDefault("note")));
    case "cluster":
        var cluster = ClusterSettings.For(quick: !options.ContainsKey("full"));
        if (options.TryGetValue("small-per-node", out var smallPerNode))
        {
            cluster = cluster with { SmallPerNode = int.Parse(smallPerNode, CultureInfo.InvariantCulture) };
        }

        if (options.TryGetValue("large-per-node", out var largePerNode))
        {
            cluster = cluster with { LargePerNode = int.Parse(largePerNode, CultureInfo.InvariantCulture) };
        }

        if (cluster.SmallPerNode < 1 || cluster.LargePerNode <= cluster.SmallPerNode || cluster.LargePerNode + cluster.ReceiversPerNode > cluster.NodeCap)
        {
            Console.Error.WriteLine($"Sizes must satisfy 1 <= small < large and large + {cluster.ReceiversPerNode} <= {cluster.NodeCap} (a node's cap).");
            return 2;
        }

        return await ClusterCommand.RunAsync(Required("server"), options.GetValueOrDefault("redis-server", "/usr/bin/redis-server"), Required("out"),
            cluster, options.TryGetValue("modes", out var clusterModes) ? clusterModes.Split(',') : ClusterCommand.Modes);
    case "cluster-report":
        return ClusterReportCommand.Run(Required("raw"), Required("out"), new ReportInputs(null, null, options.GetValueOrDefault("readme"), options.GetValueOrDefault("commit"), options.GetValueOrDefault("note")));
    default:
        Console.Error.WriteLine("usage: LoadHarness.Client suite|hold|report|cluster|cluster-report [options] (see benchmarks/README.md)");
        return 2;
}

string Required(string name) => options.TryGetValue(name, out var value) ? value : throw new ArgumentException($"--{name} is required.");

static Dictionary<string, string> ParseOptions(IEnumerable<string> args)
{
    var options = new Dictionary<string, string>(StringComparer.Ordinal);
    var list = args.ToList();
    for (var i = 0; i < list.Count; i++)
    {
        if (!list[i].StartsWith("--", StringComparison.Ordinal))
        {
            continue;
        }

        var name = list[i][2..];
        if (i + 1 < list.Count && !list[i + 1].StartsWith("--", StringComparison.Ordinal))
        {
            options[name] = list[++i];
        }
        else
        {
            options[name] = "true";
        }
    }

    return options;
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Globalization;
using LoadHarness.Client;

// Commands:
//   suite  --server DLL --out DIR [--quick|--full] [--repetitions N] [--modes bare,signalr,pool] [--only idle,echo,sendToUser,sendToUserAmongOthers,broadcast,churn,cap] [--others N]
//   hold   --url URL --mode MODE --count N --prefix P        (a child process started by the suite)
//   report --raw DIR --out DIR [--micro FILE] [--footprint FILE] [--readme FILE] [--commit SHA] [--note TEXT]
var options = ParseOptions(args.Skip(1));
switch (args.FirstOrDefault())
{
    case "suite":
        var settings = Settings.For(quick: !options.ContainsKey("full"), options.TryGetValue("repetitions", out var r) ? int.Parse(r, CultureInfo.InvariantCulture) : null);
        if (options.TryGetValue("others", out var others))
        {
            settings = settings with { FanOutBackgroundConnections = int.Parse(others, CultureInfo.InvariantCulture) };
        }

        var modes = options.TryGetValue("modes", out var m) ? m.Split(',') : ClientMode.All;
        return await SuiteCommand.RunAsync(Required("server"), Required("out"), settings, modes, options.TryGetValue("only", out var only) ? only.Split(',') : null);
    case "hold":
        return await HoldCommand.RunAsync(Required("url"), Required("mode"), int.Parse(Required("count"), CultureInfo.InvariantCulture), Required("prefix"), TimeSpan.FromMinutes(15));
    case "report":
        return ReportCommand.Run(Required("raw"), Required("out"), new ReportInputs(
            options.GetValueOrDefault("micro"), options.GetValueOrDefault("footprint"), options.GetValueOrDefault("readme"), options.GetValueOrDefault("commit"), options.GetValueOrDefault("note")));
    default:
        Console.Error.WriteLine("usage: LoadHarness.Client suite|hold|report [options] (see benchmarks/README.md)");
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

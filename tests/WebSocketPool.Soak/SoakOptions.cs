// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Globalization;

namespace WebSocketPool.Soak;

/// <summary>Command-line options of the soak tool.</summary>
internal sealed class SoakOptions
{
    public const string Usage = """
        usage:
          WebSocketPool.Soak --url http://127.0.0.1:PORT [--duration 60] [--users 50] [--max-connections 200]
                             [--workers 8] [--pid SERVER_PID] [--seed N] [--overflow-policy Reject|EvictOldest]
              Drives a running EchoServer with a mix of connects, closes, resets, killed client processes, messages
              and bad frames; prints a summary; exits 1 if leases remain once all its connections are closed, an echo
              was wrong, a close code or a handshake refusal was not the expected one, or a client loop threw
              unexpectedly. --overflow-policy must name the server's WebSocketPool:OverflowPolicy (default Reject).
          WebSocketPool.Soak hold --url http://127.0.0.1:PORT --count N [--user NAME]
              Opens N connections, prints "ready" and holds them until killed (or until stdin closes).
        """;

    public string Mode { get; private set; } = "soak";

    public Uri Url { get; private set; } = null!;

    public TimeSpan Duration { get; private set; } = TimeSpan.FromSeconds(60);

    public int Users { get; private set; } = 50;

    public int MaxConnections { get; private set; } = 200;

    public int Workers { get; private set; } = 8;

    public int? ServerPid { get; private set; }

    public int Seed { get; private set; } = Environment.TickCount;

    /// <summary>Gets the server's per-user overflow policy: under <c>EvictOldest</c> a 4001 close is expected.</summary>
    public bool EvictOldest { get; private set; }

    public int Count { get; private set; } = 10;

    public string User { get; private set; } = "holder";

    public static SoakOptions Parse(string[] args)
    {
        var options = new SoakOptions();
        var i = 0;
        if (args.Length > 0 && args[0] == "hold")
        {
            options.Mode = "hold";
            i = 1;
        }

        for (; i < args.Length; i++)
        {
            var value = i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"Option '{args[i]}' needs a value.");
            switch (args[i])
            {
                case "--url":
                    options.Url = new Uri(value);
                    break;
                case "--duration":
                    options.Duration = TimeSpan.FromSeconds(Positive(value, args[i]));
                    break;
                case "--users":
                    options.Users = Positive(value, args[i]);
                    break;
                case "--max-connections":
                    options.MaxConnections = Positive(value, args[i]);
                    break;
                case "--workers":
                    options.Workers = Positive(value, args[i]);
                    break;
                case "--pid":
                    options.ServerPid = Positive(value, args[i]);
                    break;
                case "--seed":
                    options.Seed = int.Parse(value, CultureInfo.InvariantCulture);
                    break;
                case "--overflow-policy":
                    options.EvictOldest = value switch
                    {
                        "Reject" => false,
                        "EvictOldest" => true,
                        _ => throw new ArgumentException("Option '--overflow-policy' must be Reject or EvictOldest."),
                    };
                    break;
                case "--count":
                    options.Count = Positive(value, args[i]);
                    break;
                case "--user":
                    options.User = value;
                    break;
                default:
                    throw new ArgumentException($"Unknown option '{args[i]}'.");
            }

            i++;
        }

        if (options.Url is null)
        {
            throw new ArgumentException("--url is required.");
        }

        if (!System.Net.IPAddress.TryParse(options.Url.Host, out var address) || !System.Net.IPAddress.IsLoopback(address))
        {
            throw new ArgumentException("--url must be a loopback address (127.0.0.1): the soak tool only drives a local server.");
        }

        return options;
    }

    private static int Positive(string value, string name)
    {
        var parsed = int.Parse(value, CultureInfo.InvariantCulture);
        return parsed > 0 ? parsed : throw new ArgumentException($"Option '{name}' must be positive.");
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Globalization;
using System.Net;

namespace WebSocketPool.FanOutClient;

/// <summary>Command-line options of the fan-out client.</summary>
internal sealed class FanOutClientOptions
{
    public const string Usage = """
        usage:
          WebSocketPool.FanOutClient --url http://127.0.0.1:PORT --count N --messages K [--prefix P] [--per-user 10]
                                     [--group NAME] [--wait 60] [--lifetime 120]
              Opens N connections to EchoServer as /ws?user=P<i / per-user>&group=NAME (so no user holds more than
              per-user of them), sends "ready" on each and waits for its echo (which proves the group was joined), then
              expects the text messages "0".."K-1" on every connection, each exactly once and in order, for at most
              --wait seconds. On a "close" line on stdin it closes every connection with the closing handshake and
              counts what arrived after the last expected message. It exits after --lifetime seconds in any case.
        """;

    public Uri Url { get; private set; } = null!;

    public int Count { get; private set; }

    public int Messages { get; private set; }

    public string Prefix { get; private set; } = "fan";

    public int PerUser { get; private set; } = 10;

    public string? Group { get; private set; }

    public TimeSpan Wait { get; private set; } = TimeSpan.FromSeconds(60);

    public TimeSpan Lifetime { get; private set; } = TimeSpan.FromSeconds(120);

    public static FanOutClientOptions Parse(string[] args)
    {
        var options = new FanOutClientOptions();
        for (var i = 0; i < args.Length; i += 2)
        {
            var value = i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"Option '{args[i]}' needs a value.");
            switch (args[i])
            {
                case "--url":
                    options.Url = new Uri(value);
                    break;
                case "--count":
                    options.Count = Positive(value, args[i]);
                    break;
                case "--messages":
                    options.Messages = Positive(value, args[i]);
                    break;
                case "--prefix":
                    options.Prefix = value;
                    break;
                case "--per-user":
                    options.PerUser = Positive(value, args[i]);
                    break;
                case "--group":
                    options.Group = value;
                    break;
                case "--wait":
                    options.Wait = TimeSpan.FromSeconds(Positive(value, args[i]));
                    break;
                case "--lifetime":
                    options.Lifetime = TimeSpan.FromSeconds(Positive(value, args[i]));
                    break;
                default:
                    throw new ArgumentException($"Unknown option '{args[i]}'.");
            }
        }

        if (options.Url is null || options.Count == 0 || options.Messages == 0)
        {
            throw new ArgumentException("--url, --count and --messages are required.");
        }

        if (!IPAddress.TryParse(options.Url.Host, out var address) || !IPAddress.IsLoopback(address))
        {
            throw new ArgumentException("--url must be a loopback address (127.0.0.1): the fan-out client only drives a local server.");
        }

        return options;
    }

    /// <summary>The WebSocket address of connection <paramref name="index"/>.</summary>
    public Uri UriFor(int index)
    {
        var query = "?user=" + Uri.EscapeDataString(Prefix + (index / PerUser).ToString(CultureInfo.InvariantCulture))
            + (Group is null ? string.Empty : "&group=" + Uri.EscapeDataString(Group));
        return new Uri("ws://" + Url.Authority + "/ws" + query);
    }

    private static int Positive(string value, string name)
    {
        var parsed = int.Parse(value, CultureInfo.InvariantCulture);
        return parsed > 0 ? parsed : throw new ArgumentException($"Option '{name}' must be positive.");
    }
}

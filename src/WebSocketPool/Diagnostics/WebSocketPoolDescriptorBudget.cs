// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace WebSocketPool.Internal;

/// <summary>
/// Keeps <see cref="WebSocketPoolOptions.MaxConnections"/> below what the process can open. Every socket is a file
/// descriptor, and a .NET process that runs out of them does not fail cleanly: it dies ("Out of memory.") when the
/// runtime itself next needs one. A cap above the process's open-files limit therefore cannot protect the server, so
/// it is lowered to the limit minus a reserve, and the lowering is logged. The reserve holds the process's own files
/// (loaded assemblies, logs, configuration watchers, outgoing connections) and the HTTP connections that are not
/// WebSockets (handshakes in progress, refusals, other endpoints, idle TCP), which <see cref="KestrelConnectionLimits"/>
/// bounds from the same figures. Linux only (read from <c>/proc/self/limits</c>); elsewhere, or when the limit is
/// unlimited or unreadable, the configured cap stands.
/// </summary>
/// <remarks>
/// With <c>L</c> the open-files limit: WebSockets at most <c>L - max(512, L/20)</c> (<see cref="BudgetFor"/>); the
/// process's own files <c>max(320, L/40)</c> (<see cref="OwnFilesFor"/>); Kestrel's upgraded connections the pool's cap
/// plus 1 % (at least 16, <see cref="UpgradedFor"/>); Kestrel's other connections what is left
/// (<see cref="HttpConnectionsFor"/>).
/// </remarks>
internal sealed partial class WebSocketPoolDescriptorBudget(ILogger<WebSocketPoolDescriptorBudget> logger) : IPostConfigureOptions<WebSocketPoolOptions>
{
    /// <summary>The least number of descriptors kept from WebSockets: the process's own files and its other HTTP connections.</summary>
    internal const int MinimumReserve = 512;

    /// <summary>The least number of descriptors left to the process's own files (about 220 for the EchoServer sample).</summary>
    internal const int MinimumOwnFiles = 320;

    /// <summary>The least number of HTTP connections Kestrel is given, even when an app's upgraded limit leaves less.</summary>
    internal const int MinimumHttpConnections = 64;

    private int _loggedConfigured;

    public void PostConfigure(string? name, WebSocketPoolOptions options)
    {
        if (TryReadOpenFilesLimit() is not { } limit)
        {
            return;
        }

        var budget = BudgetFor(limit);
        if (options.MaxConnections <= budget)
        {
            return;
        }

        // Options are built more than once (IOptions and IOptionsMonitor each build their own instance, and a reload
        // builds again): the same lowering is logged once.
        if (Interlocked.Exchange(ref _loggedConfigured, options.MaxConnections) != options.MaxConnections)
        {
            SafeDiagnostics.Run(static (l, s) => Log.CapLowered(l, s.configured, s.budget, s.limit), logger, (configured: options.MaxConnections, budget, limit));
        }

        options.MaxConnections = budget;
        options.MaxConnectionsPerUser = Math.Min(options.MaxConnectionsPerUser, budget);
        options.MaxConnectionsPerIP = Math.Min(options.MaxConnectionsPerIP, budget);
    }

    /// <summary>The WebSockets a process with <paramref name="openFilesLimit"/> descriptors can hold safely: 5 % (at least 512) stays in reserve.</summary>
    internal static int BudgetFor(long openFilesLimit) =>
        (int)Math.Clamp(openFilesLimit - Math.Max(MinimumReserve, openFilesLimit / 20), 1, int.MaxValue);

    /// <summary>The descriptors left to the process's own files: 2.5 % of the limit, at least 320.</summary>
    internal static long OwnFilesFor(long openFilesLimit) => Math.Max(MinimumOwnFiles, openFilesLimit / 40);

    /// <summary>
    /// Kestrel's upgraded-connection limit for a pool that admits <paramref name="maxConnections"/>: 1 % more (at least
    /// 16), for sockets whose place the pool has already freed while Kestrel is still closing them, so that an admitted
    /// WebSocket never fails its upgrade at Kestrel's limit.
    /// </summary>
    internal static long UpgradedFor(int maxConnections) => maxConnections + Math.Max(16L, maxConnections / 100);

    /// <summary>Kestrel's limit of connections that are not upgraded: what the upgraded ones and the process's own files leave.</summary>
    internal static long HttpConnectionsFor(long openFilesLimit, long upgradedLimit) =>
        Math.Max(MinimumHttpConnections, openFilesLimit - OwnFilesFor(openFilesLimit) - upgradedLimit);

    /// <summary>The soft open-files limit of this process, or <see langword="null"/> when unknown or unlimited (or not Linux).</summary>
    internal static long? TryReadOpenFilesLimit()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        try
        {
            foreach (var line in File.ReadLines("/proc/self/limits"))
            {
                if (line.StartsWith("Max open files", StringComparison.Ordinal))
                {
                    var soft = line["Max open files".Length..].TrimStart().Split(' ', 2)[0];
                    return long.TryParse(soft, NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : null;
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return null;
    }

    private static partial class Log
    {
        [LoggerMessage(40, LogLevel.Warning,
            "MaxConnections {Configured} is more than this process can open (open-files limit {Limit}); the pool caps connections at {Budget} instead, so the server answers 503 rather than running out of file descriptors.",
            EventName = "MaxConnectionsLowered")]
        public static partial void CapLowered(ILogger logger, int configured, int budget, long limit);
    }
}

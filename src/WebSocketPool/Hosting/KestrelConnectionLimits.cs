// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace WebSocketPool.Internal;

/// <summary>
/// Bounds every connection of the process, not only the pool's WebSockets. Kestrel counts none by default, and a TCP
/// connection that never sends a byte holds a descriptor as surely as a WebSocket: a flood of them runs the process out
/// of descriptors, and a .NET process that runs out dies ("Out of memory."). So where the app has set neither, Kestrel's
/// <see cref="KestrelServerLimits.MaxConcurrentUpgradedConnections"/> and <see cref="KestrelServerLimits.MaxConcurrentConnections"/>
/// are set from the open-files limit that also caps <see cref="WebSocketPoolOptions.MaxConnections"/>
/// (<see cref="WebSocketPoolDescriptorBudget"/>): upgraded connections the pool's cap plus 1 % (so an admitted WebSocket
/// never fails its upgrade while Kestrel is still closing sockets the pool has already released), the other connections
/// what is left after those and a reserve for the process's own files. Kestrel closes a connection beyond its limit as
/// soon as it accepts it. A value the app set is kept: in code, or bound from configuration
/// (<c>services.Configure&lt;KestrelServerOptions&gt;(configuration.GetSection("Kestrel"))</c>; ASP.NET Core does not bind
/// <c>Kestrel:Limits</c> by itself). To opt out, set both.
/// Linux only, like the budget; elsewhere, or when the limit is unknown, Kestrel is left as it is.
/// With several pools the upgraded connections are sized for all of them: the default pool's cap plus each named pool's
/// as configured (<c>WebSocketPool:Pools:{name}:MaxConnections</c>, else the shared value). Kestrel's options are built
/// before the pools are mapped, so a cap set in <c>MapWebSocketPool</c>'s callback is not seen here; the pools' hosted
/// service warns at start when the caps of the mapped pools add up to more than Kestrel allows.
/// </summary>
internal sealed partial class KestrelConnectionLimits(IOptions<WebSocketPoolOptions> poolOptions, ILogger<KestrelConnectionLimits> logger, IServiceProvider services)
    : IPostConfigureOptions<KestrelServerOptions>
{
    private const string ChosenByPool = "chosen by WebSocketPool";
    private const string SetByApp = "set by the app";

    public void PostConfigure(string? name, KestrelServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (WebSocketPoolDescriptorBudget.TryReadOpenFilesLimit() is not { } openFiles)
        {
            SafeDiagnostics.Run(static (l, _) => Log.LimitUnknown(l), logger, 0);
            return;
        }

        int maxConnections;
        try
        {
            maxConnections = poolOptions.Value.MaxConnections;
            maxConnections = (int)Math.Min(int.MaxValue, maxConnections + ConfiguredNamedPools(maxConnections));
        }
        catch (Exception ex) when (ex is OptionsValidationException or InvalidOperationException)
        {
            // Kestrel's options are built before the host starts (WebApplication.Build does). Pool options that fail to
            // bind or validate stop the host at start-up with their own message, so there is nothing to size Kestrel for.
            return;
        }

        Apply(options.Limits, openFiles, maxConnections, logger);
    }

    /// <summary>The caps of the named pools configured under <c>WebSocketPool:Pools</c>; a pool that sets none has the shared one.</summary>
    private long ConfiguredNamedPools(int shared)
    {
        var pools = (services.GetService(typeof(WebSocketPoolConfigurationSection)) as WebSocketPoolConfigurationSection)?.Resolve(services)
            ?.GetSection(WebSocketPoolOptions.PoolsSectionName).GetChildren() ?? [];
        long sum = 0;
        foreach (var pool in pools)
        {
            sum += int.TryParse(pool[nameof(WebSocketPoolOptions.MaxConnections)], System.Globalization.NumberStyles.Integer,
                System.Globalization.CultureInfo.InvariantCulture, out var own) && own > 0 ? own : shared;
        }

        return sum;
    }

    /// <summary>Sets what the app left unset from <paramref name="openFiles"/>; logs the outcome.</summary>
    internal static void Apply(KestrelServerLimits limits, long openFiles, int maxConnections, ILogger logger)
    {
        var upgradedByApp = limits.MaxConcurrentUpgradedConnections is not null;
        var connectionsByApp = limits.MaxConcurrentConnections is not null;
        limits.MaxConcurrentUpgradedConnections ??= WebSocketPoolDescriptorBudget.UpgradedFor(maxConnections);
        var upgraded = limits.MaxConcurrentUpgradedConnections.Value;
        limits.MaxConcurrentConnections ??= WebSocketPoolDescriptorBudget.HttpConnectionsFor(openFiles, upgraded);
        var connections = limits.MaxConcurrentConnections.Value;
        var ownFiles = WebSocketPoolDescriptorBudget.OwnFilesFor(openFiles);

        SafeDiagnostics.Run(static (l, s) =>
        {
            Log.LimitsSet(l, s.connections, s.connectionsByApp ? SetByApp : ChosenByPool, s.upgraded, s.upgradedByApp ? SetByApp : ChosenByPool,
                s.maxConnections, s.openFiles, s.ownFiles);
            if (s.upgraded < s.maxConnections)
            {
                Log.UpgradedBelowPool(l, s.upgraded, s.maxConnections);
            }

            if (s.connections + s.upgraded > s.openFiles - s.ownFiles)
            {
                Log.LimitsAboveBudget(l, s.connections, s.upgraded, s.openFiles, s.ownFiles);
            }
        }, logger, (connections, connectionsByApp, upgraded, upgradedByApp, maxConnections, openFiles, ownFiles));
    }

    private static partial class Log
    {
        [LoggerMessage(41, LogLevel.Information,
            "Kestrel connection limits: MaxConcurrentConnections {Connections} ({ConnectionsSource}), MaxConcurrentUpgradedConnections {Upgraded} ({UpgradedSource}), for WebSocketPool MaxConnections {MaxConnections} under an open-files limit of {Limit}, leaving {OwnFiles} descriptors to the process's own files.",
            EventName = "KestrelLimitsSet")]
        public static partial void LimitsSet(ILogger logger, long connections, string connectionsSource, long upgraded, string upgradedSource,
            int maxConnections, long limit, long ownFiles);

        [LoggerMessage(42, LogLevel.Warning,
            "Kestrel's MaxConcurrentUpgradedConnections {Upgraded} is below WebSocketPool MaxConnections {MaxConnections}: Kestrel's limit wins, and a WebSocket the pool admits beyond it fails its upgrade. Lower MaxConnections or raise Kestrel's limit.",
            EventName = "KestrelUpgradedLimitBelowPool")]
        public static partial void UpgradedBelowPool(ILogger logger, long upgraded, int maxConnections);

        [LoggerMessage(43, LogLevel.Warning,
            "Kestrel may hold {Connections} HTTP and {Upgraded} upgraded connections, more than the open-files limit {Limit} leaves after {OwnFiles} descriptors for the process's own files: a flood of connections can exhaust the descriptors and end the process.",
            EventName = "KestrelLimitsAboveBudget")]
        public static partial void LimitsAboveBudget(ILogger logger, long connections, long upgraded, long limit, long ownFiles);

        [LoggerMessage(44, LogLevel.Debug,
            "The process's open-files limit is unknown or unlimited; Kestrel's connection limits are left as they are.",
            EventName = "KestrelLimitsUnchanged")]
        public static partial void LimitUnknown(ILogger logger);
    }
}

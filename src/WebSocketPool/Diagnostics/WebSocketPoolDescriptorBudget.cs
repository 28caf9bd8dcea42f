// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace WebSocketPool.Internal;

/// <summary>
/// Keeps <see cref="WebSocketPoolOptions.MaxConnections"/> below what the process can open. Every socket is a file
/// descriptor, and a .NET process that runs out of them does not fail cleanly: it dies ("Out of memory.") when the
/// runtime itself next needs one. A cap above the process's open-files limit therefore cannot protect the server, so
/// it is lowered to the limit minus a reserve for the runtime (its own files, loaded assemblies, in-flight HTTP
/// requests and refused handshakes), and the lowering is logged. Linux only (read from <c>/proc/self/limits</c>);
/// elsewhere, or when the limit is unlimited or unreadable, the configured cap stands.
/// </summary>
internal sealed partial class WebSocketPoolDescriptorBudget(ILogger<WebSocketPoolDescriptorBudget> logger) : IPostConfigureOptions<WebSocketPoolOptions>
{
    /// <summary>The least number of descriptors left to the rest of the process.</summary>
    internal const int MinimumReserve = 384;

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

        Log.CapLowered(logger, options.MaxConnections, budget, limit);
        options.MaxConnections = budget;
        options.MaxConnectionsPerUser = Math.Min(options.MaxConnectionsPerUser, budget);
    }

    /// <summary>The connections a process with <paramref name="openFilesLimit"/> descriptors can hold safely: 5 % (at least 384) stays in reserve.</summary>
    internal static int BudgetFor(long openFilesLimit) =>
        (int)Math.Clamp(openFilesLimit - Math.Max(MinimumReserve, openFilesLimit / 20), 1, int.MaxValue);

    private static long? TryReadOpenFilesLimit()
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

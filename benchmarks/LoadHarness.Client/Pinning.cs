// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;

namespace LoadHarness.Client;

/// <summary>
/// CPU pinning with <c>taskset</c> (util-linux): the server process on its own core(s), the load client and every
/// child process it starts (they inherit its affinity) on the others, so neither steals the other's core and the
/// client's core can be read as a whole from /proc/stat.
/// </summary>
internal static class Pinning
{
    /// <summary>The server's CPU list (taskset -c syntax), or null when nothing is pinned.</summary>
    public static string? ServerCpus { get; private set; }

    /// <summary>The client's CPU list, or null when nothing is pinned.</summary>
    public static string? ClientCpus { get; private set; }

    /// <summary>Why pinning is off, when it is.</summary>
    public static string? Unavailable { get; private set; }

    public static bool Enabled => ServerCpus is not null && ClientCpus is not null;

    /// <summary>
    /// Pins this process (all its threads) to <paramref name="clientCpus"/> and remembers <paramref name="serverCpus"/>
    /// for the servers it starts. Null lists choose the defaults: the server on CPU 0, the client on the rest.
    /// </summary>
    public static void Configure(bool enabled, string? serverCpus, string? clientCpus)
    {
        var cores = Environment.ProcessorCount;
        if (!enabled)
        {
            Unavailable = "disabled (--no-pin)";
            return;
        }

        if (cores < 2)
        {
            Unavailable = $"only {cores} CPU visible to the client";
            return;
        }

        if (!TasksetExists())
        {
            Unavailable = "taskset (util-linux) not found";
            return;
        }

        serverCpus ??= "0";
        clientCpus ??= cores == 2 ? "1" : $"1-{cores - 1}";
        var (code, output) = Run("taskset", "-a", "-p", "-c", clientCpus, Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        if (code != 0)
        {
            Unavailable = $"taskset failed: {output.Trim()}";
            return;
        }

        ServerCpus = serverCpus;
        ClientCpus = clientCpus;
    }

    /// <summary>A start info for <paramref name="fileName"/> run under <c>taskset -c SERVER_CPUS</c> when pinning is on.</summary>
    public static ProcessStartInfo ServerStartInfo(string fileName)
    {
        if (ServerCpus is null)
        {
            return InlineCompletions.KeepOut(new ProcessStartInfo(fileName));
        }

        var info = InlineCompletions.KeepOut(new ProcessStartInfo("taskset"));
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(ServerCpus);
        info.ArgumentList.Add(fileName);
        return info;
    }

    public static JsonObject ToJson() => new()
    {
        ["enabled"] = Enabled,
        ["serverCpus"] = ServerCpus,
        ["clientCpus"] = ClientCpus,
        ["unavailable"] = Unavailable,
    };

    /// <summary>Parses a taskset CPU list ("0", "1-3", "0,2") into CPU numbers.</summary>
    public static IReadOnlyList<int> Parse(string? cpus)
    {
        var list = new List<int>();
        foreach (var part in (cpus ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var range = part.Split('-');
            var from = int.Parse(range[0], CultureInfo.InvariantCulture);
            var to = range.Length > 1 ? int.Parse(range[1], CultureInfo.InvariantCulture) : from;
            for (var cpu = from; cpu <= to; cpu++)
            {
                list.Add(cpu);
            }
        }

        return list;
    }

    private static bool TasksetExists()
    {
        try
        {
            return Run("taskset", "--version").Code == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    private static (int Code, string Output) Run(string fileName, params string[] args)
    {
        var info = new ProcessStartInfo(fileName) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"Could not start {fileName}.");
        var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit(10_000);
        return (process.HasExited ? process.ExitCode : -1, output);
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using System.Text;

namespace WebSocketPool.PackageTests;

/// <summary>Collects a child process's output, to show it when a command fails.</summary>
public sealed class ProcessLog
{
    private readonly StringBuilder _lines = new();

    public event Action<string>? Line;

    public void Add(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_lines)
        {
            _lines.AppendLine(line);
        }

        Line?.Invoke(line);
    }

    public override string ToString()
    {
        lock (_lines)
        {
            return _lines.ToString();
        }
    }
}

/// <summary>Runs the dotnet CLI (and apps it built) as child processes with a private package cache.</summary>
public static class DotnetCommand
{
    private static readonly TimeSpan s_commandTimeout = TimeSpan.FromMinutes(5);

    public static Process Start(IEnumerable<string> args, string directory, string packages, ProcessLog log)
    {
        var info = new ProcessStartInfo("dotnet") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["NUGET_PACKAGES"] = packages;
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, e) => log.Add(e.Data);
        process.ErrorDataReceived += (_, e) => log.Add(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    public static async Task RunAsync(IReadOnlyList<string> args, string directory, string packages, ProcessLog log)
    {
        using var process = Start(args, directory, packages, log);
        using var timeout = new CancellationTokenSource(s_commandTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"'dotnet {string.Join(' ', args)}' did not finish within {s_commandTimeout}.{Environment.NewLine}{log}");
        }

        process.ExitCode.Should().Be(0, $"'dotnet {string.Join(' ', args)}' must succeed; its output:{Environment.NewLine}{log}");
    }
}

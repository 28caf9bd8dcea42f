// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Globalization;
using System.Text.Json;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace WebSocketPool.Benchmarks;

/// <summary>
/// Runs the micro-benchmarks in this process (the in-process toolchain), so BenchmarkDotNet never rebuilds the
/// library into its default output folders. Build this project in Release before measuring.
/// Own options (everything else goes to BenchmarkDotNet, e.g. <c>--filter *Lease*</c>):
/// <c>--quick</c> (BenchmarkDotNet's short run), <c>--results FILE</c> (a small JSON summary for the report),
/// <c>--artifacts DIR</c> (BenchmarkDotNet's own logs and reports), <c>--footprint</c> (instead of benchmarks, the
/// live bytes an idle connection keeps, bare against pooled; see <see cref="IdleFootprint"/>), <c>--allocations</c>
/// (exact steady-state bytes per send and per lease; see <see cref="AllocationProbe"/>), <c>--lease-loop SECONDS</c>
/// (a tight lease + release loop for a sampling profiler; see <see cref="LeaseLoop"/>).
/// </summary>
internal static class Program
{
    public static int Main(string[] args)
    {
        var loop = Array.IndexOf(args, "--lease-loop");
        if (loop >= 0)
        {
            LeaseLoop.Run(TimeSpan.FromSeconds(loop + 1 < args.Length ? double.Parse(args[loop + 1], CultureInfo.InvariantCulture) : 10));
            return 0;
        }

        if (args.Contains("--allocations"))
        {
            Console.WriteLine(JsonSerializer.Serialize(AllocationProbe.Measure(), new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }

        if (args.Contains("--footprint"))
        {
            var footprint = IdleFootprint.Measure(2_000);
            var json = JsonSerializer.Serialize(footprint, new JsonSerializerOptions { WriteIndented = true });
            Console.WriteLine(json);
            var at = Array.IndexOf(args, "--results");
            if (at >= 0 && at + 1 < args.Length)
            {
                File.WriteAllText(args[at + 1], json);
            }

            return 0;
        }

        var rest = new List<string>();
        var quick = false;
        string? results = null;
        var artifacts = Path.Combine(Path.GetTempPath(), "websocketpool-benchmarks");
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--quick":
                    quick = true;
                    break;
                case "--results" when i + 1 < args.Length:
                    results = args[++i];
                    break;
                case "--artifacts" when i + 1 < args.Length:
                    artifacts = args[++i];
                    break;
                default:
                    rest.Add(args[i]);
                    break;
            }
        }

        if (!rest.Contains("--filter") && !rest.Contains("-f") && !rest.Contains("--list"))
        {
            rest.AddRange(["--filter", "*"]);
        }

        var job = (quick ? Job.ShortRun : Job.Default).WithToolchain(InProcessEmitToolchain.Instance);
        var config = ManualConfig.Create(DefaultConfig.Instance)
            .AddJob(job)
            .AddDiagnoser(MemoryDiagnoser.Default)
            .WithArtifactsPath(artifacts)
            .WithOptions(ConfigOptions.JoinSummary);
        var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run([.. rest], config).ToList();
        if (results is not null)
        {
            WriteResults(results, summaries, quick);
        }

        return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;
    }

    private static void WriteResults(string path, List<Summary> summaries, bool quick)
    {
        var rows = new List<Dictionary<string, object?>>();
        foreach (var report in summaries.SelectMany(s => s.Reports))
        {
            var benchmark = report.BenchmarkCase;
            rows.Add(new Dictionary<string, object?>
            {
                ["class"] = benchmark.Descriptor.Type.Name,
                ["method"] = benchmark.Descriptor.WorkloadMethod.Name,
                ["description"] = benchmark.Descriptor.WorkloadMethodDisplayInfo,
                ["parameters"] = benchmark.Parameters.DisplayInfo,
                ["baseline"] = benchmark.Descriptor.Baseline,
                ["meanNs"] = report.ResultStatistics?.Mean,
                ["medianNs"] = report.ResultStatistics?.Median,
                ["stdDevNs"] = report.ResultStatistics?.StandardDeviation,
                ["allocatedBytesPerOp"] = report.GcStats.GetBytesAllocatedPerOperation(benchmark),
                ["success"] = report.Success,
            });
        }

        var document = new Dictionary<string, object?>
        {
            ["job"] = quick ? "ShortRun (in-process)" : "Default (in-process)",
            ["date"] = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture),
            ["benchmarks"] = rows,
        };
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.WriteAllText(path, JsonSerializer.Serialize(document, new JsonSerializerOptions { WriteIndented = true }));
    }
}

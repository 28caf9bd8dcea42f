// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Reflection;
using System.Text;
using Xunit.Abstractions;

namespace WebSocketPool.PackageTests;

/// <summary>
/// Packs the library with a version unique to this run, restores it into a private package folder (so no cached
/// package from an earlier run can stand in for today's code), and builds and runs a fresh ASP.NET Core app that
/// references it by version only.
/// </summary>
public sealed class ConsumerPackageTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan s_commandTimeout = TimeSpan.FromMinutes(5);
    private readonly string _work = Directory.CreateTempSubdirectory("wsp-consumer-").FullName;

    [Fact]
    public async Task PackedLibrary_UsedByFreshApp_EchoesAndAnswers429AtUserLimit()
    {
        // Arrange: pack into a local feed
        var root = RepositoryRoot();
        var version = "0.1.0-ci" + Guid.NewGuid().ToString("N")[..12];
        var feed = Path.Combine(_work, "feed");
        foreach (var project in new[] { "WebSocketPool", "WebSocketPool.Redis" })
        {
            await RunAsync("dotnet", ["pack", Path.Combine(root, "src", project, project + ".csproj"), "-c", "Release",
                "-o", feed, $"-p:Version={version}", "--artifacts-path", Path.Combine(_work, "artifacts")], root);
        }

        var package = Path.Combine(feed, $"WebSocketPool.{version}.nupkg");
        File.Exists(package).Should().BeTrue();
        File.Exists(Path.Combine(feed, $"WebSocketPool.{version}.snupkg")).Should().BeTrue("symbols ship beside the package");
        using (var zip = ZipFile.OpenRead(package))
        {
            zip.Entries.Select(e => e.FullName).Should().Contain(["README.md", "lib/net10.0/WebSocketPool.dll", "lib/net10.0/WebSocketPool.xml"]);
        }

        using (var zip = ZipFile.OpenRead(Path.Combine(feed, $"WebSocketPool.Redis.{version}.nupkg")))
        {
            zip.Entries.Select(e => e.FullName).Should().Contain(["README.md", "lib/net10.0/WebSocketPool.Redis.dll", "lib/net10.0/WebSocketPool.Redis.xml"]);
            using var reader = new StreamReader(zip.GetEntry("WebSocketPool.Redis.nuspec")!.Open());
            (await reader.ReadToEndAsync()).Should().Contain($"<dependency id=\"WebSocketPool\" version=\"{version}\"", "the scale-out package depends on the core package of the same version");
        }

        File.Exists(Path.Combine(feed, $"WebSocketPool.Redis.{version}.snupkg")).Should().BeTrue();

        // Arrange: a fresh app outside the solution, referencing the package by version only
        var app = Path.Combine(_work, "ConsumerApp");
        Directory.CreateDirectory(app);
        var templates = Path.Combine(AppContext.BaseDirectory, "ConsumerApp");
        File.Copy(Path.Combine(templates, "Program.cs.txt"), Path.Combine(app, "Program.cs"));
        File.Copy(Path.Combine(templates, "ConsumerApp.csproj.txt"), Path.Combine(app, "ConsumerApp.csproj"));
        await File.WriteAllTextAsync(Path.Combine(app, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{feed}" />
                <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
              </packageSources>
            </configuration>
            """);
        await File.WriteAllTextAsync(Path.Combine(app, "Directory.Build.props"), "<Project />");
        await File.WriteAllTextAsync(Path.Combine(app, "Directory.Packages.props"), "<Project />");
        await RunAsync("dotnet", ["build", app, "-c", "Release", $"-p:WebSocketPoolVersion={version}", "--packages", Path.Combine(_work, "packages")], app);

        // Act: run it on loopback
        var port = FreePort();
        using var server = Start("dotnet", [Path.Combine(app, "bin", "Release", "net10.0", "ConsumerApp.dll"), "--urls", $"http://127.0.0.1:{port}"], app);
        try
        {
            await WaitForHealthAsync(port, server);

            using var first = new ClientWebSocket();
            await first.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/ws?user=alice"), CancellationToken.None);
            await first.SendAsync(Encoding.UTF8.GetBytes("ping"), WebSocketMessageType.Text, true, CancellationToken.None);
            var buffer = new byte[16];
            var received = await first.ReceiveAsync(buffer, new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);

            using var second = new ClientWebSocket();
            second.Options.CollectHttpResponseDetails = true;
            var refused = () => second.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/ws?user=alice"), CancellationToken.None);

            // Assert
            Encoding.UTF8.GetString(buffer, 0, received.Count).Should().Be("ping");
            await refused.Should().ThrowAsync<WebSocketException>();
            second.HttpStatusCode.Should().Be(HttpStatusCode.TooManyRequests);
        }
        finally
        {
            server.Kill(entireProcessTree: true);
            await server.WaitForExitAsync();
        }
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_work, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static string RepositoryRoot() =>
        typeof(ConsumerPackageTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "RepositoryRoot").Value!;

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private async Task WaitForHealthAsync(int port, Process server)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(60))
        {
            server.HasExited.Should().BeFalse("the consumer app must keep running");
            try
            {
                if ((await http.GetAsync(new Uri($"http://127.0.0.1:{port}/health"))).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            await Task.Delay(100);
        }

        throw new TimeoutException("The consumer app did not answer /health within 60 s.");
    }

    private Process Start(string file, IEnumerable<string> args, string directory)
    {
        var info = new ProcessStartInfo(file) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["NUGET_PACKAGES"] = Path.Combine(_work, "packages");
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, e) => Log(e.Data);
        process.ErrorDataReceived += (_, e) => Log(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private async Task RunAsync(string file, IEnumerable<string> args, string directory)
    {
        using var process = Start(file, args, directory);
        using var timeout = new CancellationTokenSource(s_commandTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"'{file} {string.Join(' ', args)}' did not finish within {s_commandTimeout}.");
        }

        process.ExitCode.Should().Be(0, $"'{file} {string.Join(' ', args)}' must succeed (see the test output)");
    }

    private void Log(string? line)
    {
        if (line is null)
        {
            return;
        }

        try
        {
            output.WriteLine(line);
        }
        catch (InvalidOperationException)
        {
            // The test has finished; late output from a killed process is dropped.
        }
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Xunit.Abstractions;

namespace WebSocketPool.PackageTests;

/// <summary>
/// Builds and runs a fresh ASP.NET Core app that references the packed library by version only.
/// </summary>
public sealed class ConsumerPackageTests(PackedFeed packed, ITestOutputHelper output) : IClassFixture<PackedFeed>
{
    [Fact]
    public async Task PackedLibrary_UsedByFreshApp_EchoesAndAnswers429AtUserLimit_AndTheClientPackageTalksToIt()
    {
        // Arrange: the packages
        var version = packed.Version;
        var feed = packed.Feed;
        var log = new ProcessLog();
        log.Line += Log;
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
        using (var zip = ZipFile.OpenRead(Path.Combine(feed, $"WebSocketPool.Client.{version}.nupkg")))
        {
            zip.Entries.Select(e => e.FullName).Should().Contain(["README.md", "lib/net10.0/WebSocketPool.Client.dll", "lib/net10.0/WebSocketPool.Client.xml"]);
            using var reader = new StreamReader(zip.GetEntry("WebSocketPool.Client.nuspec")!.Open());
            var nuspec = await reader.ReadToEndAsync();
            var dependencies = nuspec[nuspec.IndexOf("<dependencies>", StringComparison.Ordinal)..(nuspec.IndexOf("</dependencies>", StringComparison.Ordinal) + 15)];
            dependencies.Should().Contain("Microsoft.Extensions.Logging.Abstractions")
                .And.NotContain("\"WebSocketPool", "the client references neither server package");
            nuspec.Should().NotContain("<frameworkReferences>", "the client needs no ASP.NET Core");
        }

        File.Exists(Path.Combine(feed, $"WebSocketPool.Client.{version}.snupkg")).Should().BeTrue();

        // Arrange: a fresh app outside the solution, referencing the package by version only
        var app = await packed.CreateAppFolderAsync("ConsumerApp");
        var templates = Path.Combine(AppContext.BaseDirectory, "ConsumerApp");
        File.Copy(Path.Combine(templates, "Program.cs.txt"), Path.Combine(app, "Program.cs"));
        File.Copy(Path.Combine(templates, "ConsumerApp.csproj.txt"), Path.Combine(app, "ConsumerApp.csproj"));
        await DotnetCommand.RunAsync(["build", app, "-c", "Release", $"-p:WebSocketPoolVersion={version}"], app, packed.Packages, log);

        // Act: run it on loopback
        var port = FreePort();
        using var server = DotnetCommand.Start([Path.Combine(app, "bin", "Release", "net10.0", "ConsumerApp.dll"), "--urls", $"http://127.0.0.1:{port}"], app, packed.Packages, log);
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

            // The client package, in a console app of its own, talks to the same server.
            var clientLog = new ProcessLog();
            clientLog.Line += Log;
            var clientApp = await packed.CreateAppFolderAsync("ClientConsumerApp");
            var clientTemplates = Path.Combine(AppContext.BaseDirectory, "ClientConsumerApp");
            File.Copy(Path.Combine(clientTemplates, "Program.cs.txt"), Path.Combine(clientApp, "Program.cs"));
            File.Copy(Path.Combine(clientTemplates, "ClientConsumerApp.csproj.txt"), Path.Combine(clientApp, "ClientConsumerApp.csproj"));
            await DotnetCommand.RunAsync(["build", clientApp, "-c", "Release", $"-p:WebSocketPoolVersion={version}"], clientApp, packed.Packages, clientLog);
            await DotnetCommand.RunAsync([Path.Combine(clientApp, "bin", "Release", "net10.0", "ClientConsumerApp.dll"), $"ws://127.0.0.1:{port}/ws?user=bob"],
                clientApp, packed.Packages, clientLog);
            clientLog.ToString().Should().Contain("echo: hello from the client package").And.Contain("state: Closed");
        }
        finally
        {
            server.Kill(entireProcessTree: true);
            await server.WaitForExitAsync();
        }
    }

    [Theory]
    [InlineData("WebSocketPool")]
    [InlineData("WebSocketPool.Redis")]
    [InlineData("WebSocketPool.Client")]
    public async Task Package_CarriesIconReleaseNotesAndAReadmeWithoutRepositoryMaterial(string id)
    {
        // Arrange
        using var zip = ZipFile.OpenRead(Path.Combine(packed.Feed, $"{id}.{packed.Version}.nupkg"));

        // Act
        string nuspec;
        using (var reader = new StreamReader(zip.GetEntry($"{id}.nuspec")!.Open()))
        {
            nuspec = await reader.ReadToEndAsync();
        }

        string readme;
        using (var reader = new StreamReader(zip.GetEntry("README.md")!.Open()))
        {
            readme = await reader.ReadToEndAsync();
        }

        // Assert
        zip.GetEntry("icon.png").Should().NotBeNull();
        nuspec.Should().Contain("<icon>icon.png</icon>").And.Contain("<releaseNotes>").And.Contain("<readme>README.md</readme>");
        readme.Should().Contain($"dotnet add package {id}");
        readme.Should().NotContainAny(["samples/", "tests/", "dotnet test", "test.sh", "Program.cs)"]);
    }

    [Fact]
    public async Task Pack_WithoutAVersion_IsRefusedSoNoCachedPackageCanStandIn()
    {
        // Arrange
        var log = new ProcessLog();
        var project = Path.Combine(PackedFeed.RepositoryRoot, "src", "WebSocketPool", "WebSocketPool.csproj");

        // Act
        var pack = () => DotnetCommand.RunAsync(["pack", project, "-c", "Release", "-o", Path.Combine(packed.Work, "unversioned"),
            "--artifacts-path", Path.Combine(packed.Work, "artifacts-unversioned"), "-p:CI=false"], PackedFeed.RepositoryRoot, packed.Packages, log);

        // Assert
        await pack.Should().ThrowAsync<Exception>();
        log.ToString().Should().Contain("eng/pack-local.sh");
        Directory.Exists(Path.Combine(packed.Work, "unversioned")).Should().BeFalse("no package of the default version was written");
    }

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

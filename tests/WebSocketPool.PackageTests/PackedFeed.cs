// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Reflection;

namespace WebSocketPool.PackageTests;

/// <summary>
/// Packs WebSocketPool, WebSocketPool.Redis and WebSocketPool.Client once per test class, with a pre-release version unique to this run, into
/// a private feed, so that no cached package from an earlier run can stand in for today's code.
/// </summary>
public sealed class PackedFeed : IAsyncLifetime
{
    /// <summary>Gets the temporary folder holding the feed, the package cache and the consumer apps.</summary>
    public string Work { get; } = Directory.CreateTempSubdirectory("wsp-consumer-").FullName;

    /// <summary>Gets the folder the packages were written to.</summary>
    public string Feed => Path.Combine(Work, "feed");

    /// <summary>Gets the private package cache consumer apps restore into.</summary>
    public string Packages => Path.Combine(Work, "packages");

    /// <summary>Gets the version the packages were packed with.</summary>
    public string Version { get; } = "0.1.0-ci" + Guid.NewGuid().ToString("N")[..12];

    /// <summary>Gets the repository's root folder.</summary>
    public static string RepositoryRoot =>
        typeof(PackedFeed).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "RepositoryRoot").Value!;

    /// <summary>Gets what the pack commands wrote.</summary>
    public string PackOutput { get; private set; } = string.Empty;

    public async Task InitializeAsync()
    {
        var log = new ProcessLog();
        foreach (var project in new[] { "WebSocketPool", "WebSocketPool.Redis", "WebSocketPool.Client" })
        {
            await DotnetCommand.RunAsync(["pack", Path.Combine(RepositoryRoot, "src", project, project + ".csproj"), "-c", "Release",
                "-o", Feed, $"-p:Version={Version}", "--artifacts-path", Path.Combine(Work, "artifacts")], RepositoryRoot, Packages, log);
        }

        PackOutput = log.ToString();
    }

    /// <summary>Creates a folder for a consumer app whose only package sources are the feed and nuget.org.</summary>
    /// <param name="name">The app's folder name.</param>
    /// <returns>The app's folder.</returns>
    public async Task<string> CreateAppFolderAsync(string name)
    {
        var app = Path.Combine(Work, name);
        Directory.CreateDirectory(app);
        await File.WriteAllTextAsync(Path.Combine(app, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{Feed}" />
                <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
              </packageSources>
            </configuration>
            """);
        await File.WriteAllTextAsync(Path.Combine(app, "Directory.Build.props"), "<Project />");
        await File.WriteAllTextAsync(Path.Combine(app, "Directory.Packages.props"), "<Project />");
        return app;
    }

    public Task DisposeAsync()
    {
        try
        {
            Directory.Delete(Work, recursive: true);
        }
        catch (IOException)
        {
        }

        return Task.CompletedTask;
    }
}

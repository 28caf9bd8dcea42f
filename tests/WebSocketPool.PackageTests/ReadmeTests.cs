// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Xunit.Abstractions;

namespace WebSocketPool.PackageTests;

/// <summary>
/// The READMEs' C# compiles against the packed library, so the documentation cannot drift from the API: the Quick start
/// as the whole <c>Program.cs</c> of a fresh <c>dotnet new web</c> app, and every other block as a fragment.
/// </summary>
public sealed class ReadmeTests(PackedFeed packed, ITestOutputHelper output) : IClassFixture<PackedFeed>
{
    [Theory]
    [InlineData("README.md")]
    [InlineData("src/WebSocketPool/README.md")]
    [InlineData("src/WebSocketPool.Redis/README.md")]
    [InlineData("src/WebSocketPool.Client/README.md")]
    public async Task Readme_CSharpBlocks_CompileAgainstThePackage(string readme)
    {
        // Arrange
        var blocks = ReadmeCodeBlocks.Extract(await File.ReadAllTextAsync(Path.Combine(PackedFeed.RepositoryRoot, readme)));
        var app = await packed.CreateAppFolderAsync("Readme-" + readme.Replace('/', '-'));
        var programs = ReadmeCodeBlocks.WriteSources(blocks, app);
        await File.WriteAllTextAsync(Path.Combine(app, "ReadmeApp.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk.Web">
              <PropertyGroup>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
                <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="WebSocketPool" Version="{packed.Version}" />
                <PackageReference Include="WebSocketPool.Redis" Version="{packed.Version}" />
                <PackageReference Include="WebSocketPool.Client" Version="{packed.Version}" />
                <PackageReference Include="OpenTelemetry.Extensions.Hosting" Version="1.20.1" />
                <PackageReference Include="Microsoft.AspNetCore.DataProtection.StackExchangeRedis" Version="10.0.12" />
              </ItemGroup>
            </Project>
            """);
        var log = new ProcessLog();

        // Act
        var build = () => DotnetCommand.RunAsync(["build", app, "-c", "Release"], app, packed.Packages, log);

        // Assert
        programs.Should().Be(1, "the Quick start is one whole Program.cs, from its usings to app.Run()");
        blocks[0].Should().StartWith("using ", "the first C# block is the Quick start, with its usings");
        await build.Should().NotThrowAsync();
        output.WriteLine($"{blocks.Count} C# blocks of {readme} compiled.");
    }
}

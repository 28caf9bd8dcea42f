// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace WebSocketPool.PackageTests;

/// <summary>
/// Turns the C# blocks of a Markdown file into the source files of one app: the block that ends in <c>app.Run();</c> is
/// the app's <c>Program.cs</c>, exactly as written (the Quick start), and so is a first block that starts with its usings
/// (the client package's console program); blocks that declare types become files of their
/// own; every other block is a fragment, compiled as the body of a method that has <c>builder</c>, <c>app</c>,
/// <c>services</c> and <c>pool</c> in scope, as the surrounding text presents them.
/// </summary>
public static partial class ReadmeCodeBlocks
{
    public static IReadOnlyList<string> Extract(string markdown) =>
        [.. CSharpBlock().Matches(markdown.ReplaceLineEndings("\n")).Select(m => m.Groups["code"].Value)];

    /// <summary>Writes the blocks as source files into <paramref name="folder"/>.</summary>
    /// <param name="blocks">The blocks, in the order of the file.</param>
    /// <param name="folder">The app's folder.</param>
    /// <returns>The number of blocks that were whole programs.</returns>
    public static int WriteSources(IReadOnlyList<string> blocks, string folder)
    {
        var programs = 0;
        var fragments = new StringBuilder();
        for (var i = 0; i < blocks.Count; i++)
        {
            var block = blocks[i];
            if (block.Contains("app.Run();", StringComparison.Ordinal) || (i == 0 && block.StartsWith("using ", StringComparison.Ordinal)))
            {
                programs++;
                File.WriteAllText(Path.Combine(folder, "Program.cs"), block);
            }
            else if (TypeDeclaration().IsMatch(block))
            {
                File.WriteAllText(Path.Combine(folder, $"Block{i}.cs"), "using WebSocketPool;\n" + block);
            }
            else
            {
                fragments.Append(CultureInfo.InvariantCulture, $$"""
                        public static async Task Block{{i}}(WebApplicationBuilder builder, WebApplication app, IServiceProvider services, IWebSocketPoolBuilder pool)
                        {
                    {{block}}
                        }

                    """);
            }
        }

        File.WriteAllText(Path.Combine(folder, "Fragments.cs"), $$"""
            #pragma warning disable CS1998 // a fragment need not await
            using System.Security.Claims;
            using Microsoft.AspNetCore.Authentication;
            using Microsoft.AspNetCore.DataProtection;
            using OpenTelemetry.Metrics;
            using StackExchange.Redis;
            using WebSocketPool;
            using WebSocketPool.Client;
            using WebSocketPool.Redis;

            internal static class ReadmeFragments
            {
            {{fragments}}
            }
            """);
        return programs;
    }

    [GeneratedRegex(@"^```csharp\n(?<code>.*?)^```", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex CSharpBlock();

    [GeneratedRegex(@"^(public |internal )?(sealed |static |abstract )*(partial )?(class|record|struct|interface) ", RegexOptions.Multiline)]
    private static partial Regex TypeDeclaration();
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Reflection;

namespace WebSocketPool.TestSupport;

/// <summary>The arguments that start the samples as <see cref="ServerProcess"/>es; every other detail is the test's.</summary>
public static class SampleServers
{
    /// <summary>The key of the <see cref="AssemblyMetadataAttribute"/> by which a test assembly names the built ChatServer.dll.</summary>
    public const string ChatServerPathKey = "ChatServerPath";

    /// <summary>
    /// EchoServer, whose dll the test project's reference copies next to the tests: warnings only, plus the lifetime
    /// line that says where it listens.
    /// </summary>
    public static ServerProcessOptions EchoServer(params string[] arguments) => EchoServer(maxOpenFiles: null, arguments);

    /// <summary>EchoServer (see <see cref="EchoServer(string[])"/>) with at most <paramref name="maxOpenFiles"/> file descriptors.</summary>
    public static ServerProcessOptions EchoServer(int? maxOpenFiles, params string[] arguments)
    {
        var options = new ServerProcessOptions
        {
            DllPath = Path.Combine(AppContext.BaseDirectory, "EchoServer.dll"),
            MaxOpenFiles = maxOpenFiles,
        };
        options.Arguments.Add("--Logging:LogLevel:Default=Warning");
        options.Arguments.Add("--Logging:LogLevel:Microsoft.Hosting.Lifetime=Information");
        AddAll(options.Arguments, arguments);
        return options;
    }

    /// <summary>
    /// ChatServer as shipped, from its own build folder: production settings whatever the test runner's environment
    /// says, an empty working directory (it must find its settings and page on its own) and a private <c>HOME</c>, where
    /// its data-protection keys live. The dll is the one a loaded test assembly names with <see cref="ChatServerPathKey"/>.
    /// </summary>
    public static ServerProcessOptions ChatServer(params string[] arguments)
    {
        var options = new ServerProcessOptions
        {
            DllPath = ChatServerPath(),
            UseEmptyWorkingDirectory = true,
            UsePrivateHome = true,
        };
        options.Environment["ASPNETCORE_ENVIRONMENT"] = null;
        options.Environment["DOTNET_ENVIRONMENT"] = null;
        options.Environment["ASPNETCORE_URLS"] = null;
        AddAll(options.Arguments, arguments);
        return options;
    }

    private static string ChatServerPath()
    {
        var path = AppDomain.CurrentDomain.GetAssemblies()
            .SelectMany(a => a.GetCustomAttributes<AssemblyMetadataAttribute>())
            .FirstOrDefault(a => a.Key == ChatServerPathKey)?.Value;
        if (string.IsNullOrEmpty(path))
        {
            throw new InvalidOperationException($"No loaded test assembly has the '{ChatServerPathKey}' metadata; the test project sets it from samples/ChatServer's build.");
        }

        return path;
    }

    private static void AddAll(IList<string> list, string[] items)
    {
        foreach (var item in items)
        {
            list.Add(item);
        }
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.TestSupport;

/// <summary>How <see cref="ServerProcess"/> starts a server: <c>dotnet DLL --urls http://127.0.0.1:PORT ARGUMENTS</c>.</summary>
public sealed class ServerProcessOptions
{
    /// <summary>Gets the path of the server's dll.</summary>
    public required string DllPath { get; init; }

    /// <summary>Gets the command-line arguments that follow <c>--urls</c>.</summary>
    public IList<string> Arguments { get; } = [];

    /// <summary>Gets the environment changes: a value sets a variable, <see langword="null"/> removes it.</summary>
    public IDictionary<string, string?> Environment { get; } = new Dictionary<string, string?>(StringComparer.Ordinal);

    /// <summary>Gets the loopback port to listen on.</summary>
    /// <value>The default is 0: the OS chooses a free port, read back from the server's "Now listening on" line.</value>
    public int Port { get; init; }

    /// <summary>
    /// Gets the most file descriptors the server may open (<c>prlimit --nofile=N:N</c>), so that it can run out of them
    /// without taking the test host with it.
    /// </summary>
    /// <value>The default is <see langword="null"/>: the test host's limit.</value>
    public int? MaxOpenFiles { get; init; }

    /// <summary>Gets the working directory.</summary>
    /// <value>The default is <see langword="null"/>: the test host's, unless <see cref="UseEmptyWorkingDirectory"/> is set.</value>
    public string? WorkingDirectory { get; init; }

    /// <summary>Gets a value indicating whether the server runs in an empty temporary directory of its own (deleted on dispose).</summary>
    public bool UseEmptyWorkingDirectory { get; init; }

    /// <summary>
    /// Gets a value indicating whether the server gets a <c>HOME</c> of its own, as on a machine of its own: it is kept
    /// across a restart (data-protection keys live there) and deleted on dispose.
    /// </summary>
    public bool UsePrivateHome { get; init; }

    /// <summary>Gets how long the server may take to print its "Now listening on" line.</summary>
    /// <value>The default is 60 seconds.</value>
    public TimeSpan StartDeadline { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Gets how long the server may take to exit after SIGTERM in <see cref="ServerProcess.StopAsync"/>.</summary>
    /// <value>The default is 30 seconds.</value>
    public TimeSpan StopDeadline { get; init; } = TimeSpan.FromSeconds(30);
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;

namespace LoadHarness.Client;

/// <summary>
/// Socket completions run inline on the socket engine's event thread in the suite's own process when it uses the light
/// client: each receive's continuation then costs no hop through the thread pool, the largest cost per message left
/// after <see cref="LightWebSocket"/>. The runtime reads the switch (an environment variable) once, when the first
/// socket starts an asynchronous operation, so it is set before anything connects; every child process (the servers,
/// the hold workers) is started without it, so the servers run as they would anywhere else.
/// </summary>
internal static class InlineCompletions
{
    public const string Variable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    public static bool Enabled => Environment.GetEnvironmentVariable(Variable) == "1";

    public static void Enable() => Environment.SetEnvironmentVariable(Variable, "1");

    /// <summary>Starts the child without the switch (the runtime copies the process's environment into every start info).</summary>
    public static ProcessStartInfo KeepOut(ProcessStartInfo info)
    {
        info.Environment.Remove(Variable);
        return info;
    }
}

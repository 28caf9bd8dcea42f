// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Internal;

/// <summary>
/// Runs a side effect that must not break the path it sits on (a log write, a metric): a release, a timer, the drain or
/// a refusal goes on whatever a logging provider or a metrics listener throws.
/// </summary>
internal static class SafeDiagnostics
{
    public static void Run<TTarget, TState>(Action<TTarget, TState> action, TTarget target, TState state)
    {
        try
        {
            action(target, state);
        }
#pragma warning disable CA1031 // Diagnostics must never cost a release, a timer, a refusal or the process.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }
}

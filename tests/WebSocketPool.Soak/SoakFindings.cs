// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace WebSocketPool.Soak;

/// <summary>
/// What went wrong during a soak run, beyond leases and echoes: close codes the soak did not expect for the operation
/// it performed, handshakes that failed other than by an expected refusal, and exceptions nobody expected in the client
/// loops (counted by type, the first few kept with their stack). Thread-safe; every worker records here.
/// </summary>
internal sealed class SoakFindings
{
    private const int KeptExceptions = 5;

    private readonly ConcurrentDictionary<string, long> _closeCodes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _handshakes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _exceptions = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _firstExceptions = new();
    private int _keptExceptions;

    public long UnexpectedCloseCodes => _closeCodes.Values.Sum();

    public long FailedHandshakes => _handshakes.Values.Sum();

    public long UnexpectedExceptions => _exceptions.Values.Sum();

    public bool Any => UnexpectedCloseCodes + FailedHandshakes + UnexpectedExceptions > 0;

    /// <summary>The server ended a connection in a way not expected for <paramref name="operation"/>.</summary>
    /// <param name="operation">What the soak did, e.g. <c>close</c>.</param>
    /// <param name="code">The close code the server sent, or null when it sent no close frame.</param>
    /// <param name="expected">What the soak expected, for the report.</param>
    public void UnexpectedClose(string operation, int? code, string expected) =>
        Count(_closeCodes, $"{operation}: got {(code is { } c ? c.ToString(CultureInfo.InvariantCulture) : "no close frame")}, expected {expected}");

    /// <summary>A handshake that neither upgraded nor was an expected refusal.</summary>
    public void FailedHandshake(string operation, string description) =>
        Count(_handshakes, $"{operation}: {description}");

    /// <summary>A handshake that ended in an exception (reset, early end of the connection, no answer in time).</summary>
    public void FailedHandshake(string operation, Exception exception) =>
        FailedHandshake(operation, Describe(exception));

    public void UnexpectedException(string operation, Exception exception)
    {
        Count(_exceptions, Describe(exception));
        if (Interlocked.Increment(ref _keptExceptions) <= KeptExceptions)
        {
            _firstExceptions.Enqueue($"in {operation}: {exception}");
        }
    }

    public void AppendTo(StringBuilder summary)
    {
        Section(summary, "unexpected close codes:", _closeCodes);
        Section(summary, "failed handshakes:", _handshakes);
        Section(summary, "unexpected exceptions by type:", _exceptions);
        if (!_firstExceptions.IsEmpty)
        {
            summary.AppendLine(CultureInfo.InvariantCulture, $"first {_firstExceptions.Count} unexpected exceptions:");
            var i = 0;
            foreach (var text in _firstExceptions)
            {
                summary.AppendLine(CultureInfo.InvariantCulture, $"  [{++i}] {text.ReplaceLineEndings(Environment.NewLine + "      ")}");
            }
        }
    }

    private static string Describe(Exception exception) => exception switch
    {
        SocketException socket => $"{nameof(SocketException)}({socket.SocketErrorCode})",
        _ => exception.GetType().Name,
    };

    private static void Section(StringBuilder summary, string title, ConcurrentDictionary<string, long> counters)
    {
        summary.AppendLine(title);
        if (counters.IsEmpty)
        {
            summary.AppendLine("  none");
        }

        foreach (var (kind, count) in counters.OrderBy(o => o.Key, StringComparer.Ordinal))
        {
            summary.AppendLine(CultureInfo.InvariantCulture, $"  {kind,-60} {count,10}");
        }
    }

    private static void Count(ConcurrentDictionary<string, long> counters, string kind) =>
        counters.AddOrUpdate(kind, 1, static (_, v) => v + 1);
}

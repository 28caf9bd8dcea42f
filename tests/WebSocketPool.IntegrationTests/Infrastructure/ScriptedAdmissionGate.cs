// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;

namespace WebSocketPool.IntegrationTests.Infrastructure;

/// <summary>
/// An <see cref="IWebSocketAdmissionGate"/> whose decisions a test scripts by attempt number (1 for the first upgrade the
/// gate sees), so that a handshake can be refused or held inside the gate, between the node's admission and the upgrade.
/// It records every attempt's connection id and how often each id was released.
/// </summary>
internal sealed class ScriptedAdmissionGate : IWebSocketAdmissionGate
{
    private int _attempts;

    /// <summary>Gets or sets the decision for an attempt: (attempt number, connection id, request-aborted token).</summary>
    public Func<int, string, CancellationToken, Task<WebSocketGateDecision>> Decide { get; set; } =
        static (_, _, _) => Task.FromResult(WebSocketGateDecision.Admit());

    /// <summary>Gets the connection ids the gate was asked about, in order.</summary>
    public ConcurrentQueue<string> Attempts { get; } = new();

    /// <summary>Gets how many times each connection id was released.</summary>
    public ConcurrentDictionary<string, int> Releases { get; } = new(StringComparer.Ordinal);

    public async ValueTask<WebSocketGateDecision> AdmitAsync(string userKey, string connectionId, CancellationToken cancellationToken)
    {
        var attempt = Interlocked.Increment(ref _attempts);
        Attempts.Enqueue(connectionId);
        return await Decide(attempt, connectionId, cancellationToken);
    }

    public ValueTask<WebSocketGateDecision> PreviewAsync(string userKey, CancellationToken cancellationToken) => new(WebSocketGateDecision.Admit());

    public void Release(string userKey, string connectionId) => Releases.AddOrUpdate(connectionId, 1, static (_, count) => count + 1);

    public int ReleasesOf(string connectionId) => Releases.TryGetValue(connectionId, out var count) ? count : 0;
}

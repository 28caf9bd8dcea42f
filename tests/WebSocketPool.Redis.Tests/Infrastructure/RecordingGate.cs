// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;

namespace WebSocketPool.Redis.Tests.Infrastructure;

/// <summary>
/// An admission gate that records every call, for checking the core's side of the gate contract (it is the pool's
/// middleware and factory that are under test here, not this gate). It refuses users listed in <see cref="Refused"/>.
/// </summary>
public sealed class RecordingGate : IWebSocketAdmissionGate
{
    public ConcurrentDictionary<string, string> Admitted { get; } = new(StringComparer.Ordinal);

    public ConcurrentDictionary<string, int> Released { get; } = new(StringComparer.Ordinal);

    public ConcurrentDictionary<string, bool> Refused { get; } = new(StringComparer.Ordinal);

    public ValueTask<WebSocketGateDecision> AdmitAsync(string userKey, string connectionId, CancellationToken cancellationToken)
    {
        Admitted[connectionId] = userKey;
        return new(Refused.ContainsKey(userKey)
            ? WebSocketGateDecision.Refuse(RejectionReasons.UserLimit, 7, 7, TimeSpan.FromSeconds(3))
            : WebSocketGateDecision.Admit(42));
    }

    public ValueTask<WebSocketGateDecision> PreviewAsync(string userKey, CancellationToken cancellationToken) =>
        new(Refused.ContainsKey(userKey)
            ? WebSocketGateDecision.Refuse(RejectionReasons.UserLimit, 7, 7, TimeSpan.FromSeconds(3))
            : WebSocketGateDecision.Admit(42));

    public void Release(string userKey, string connectionId) =>
        Released.AddOrUpdate(connectionId, 1, static (_, n) => n + 1);
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Tests.Model;

/// <summary>
/// The limits one sample of the model-based test runs under. Connections come from <see cref="Addresses"/> client
/// addresses, each limited to <see cref="LimitPerAddress"/> connections (0: no per-IP limit, no address counted).
/// </summary>
internal sealed record PoolModelConfig(int Users, int LimitPerUser, int MaxConnections, bool EvictOldest, int Addresses = 1, int LimitPerAddress = 0);

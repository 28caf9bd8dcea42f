// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Tests.Model;

/// <summary>The limits one sample of the model-based test runs under.</summary>
internal sealed record PoolModelConfig(int Users, int LimitPerUser, int MaxConnections, bool EvictOldest);

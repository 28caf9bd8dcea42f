// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Internal;

/// <summary>What one self-audit found.</summary>
internal readonly record struct AuditResult(int Mismatches, int Repaired, int Unrepaired);

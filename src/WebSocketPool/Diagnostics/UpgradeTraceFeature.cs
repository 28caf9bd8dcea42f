// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;

namespace WebSocketPool.Internal;

/// <summary>
/// Kept on the upgrade request of an admitted, traced connection: the upgrade span (long stopped by the time the
/// connection ends) for the end span to link to, and the pool's name.
/// </summary>
internal sealed class UpgradeTraceFeature(ActivityContext upgrade, string poolName)
{
    public ActivityContext Upgrade { get; } = upgrade;

    public string PoolName { get; } = poolName;
}

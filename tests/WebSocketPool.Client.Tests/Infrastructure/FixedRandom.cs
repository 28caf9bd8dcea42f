// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Client.Tests;

/// <summary>A jitter source that always draws the same value, so a test knows every delay the client computes.</summary>
public sealed class FixedRandom(double draw) : Random
{
    public override double NextDouble() => draw;

    protected override double Sample() => draw;
}

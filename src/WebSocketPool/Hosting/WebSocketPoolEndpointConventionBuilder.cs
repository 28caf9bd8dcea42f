// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using WebSocketPool;

namespace Microsoft.AspNetCore.Builder;

/// <summary>
/// Returned by <c>MapWebSocketPool</c>: conventions (<c>RequireAuthorization</c>, <c>RequireHost</c>,
/// <c>RequireRateLimiting</c>, <c>WithMetadata</c>, …) apply to the pool's endpoint as to any other.
/// </summary>
public sealed class WebSocketPoolEndpointConventionBuilder : IEndpointConventionBuilder
{
    private readonly IEndpointConventionBuilder _inner;

    internal WebSocketPoolEndpointConventionBuilder(IEndpointConventionBuilder inner, string poolName)
    {
        _inner = inner;
        PoolName = poolName;
    }

    /// <summary>Gets the name of the pool the endpoint serves (<see cref="WebSocketPoolOptions.DefaultPoolName"/> for the default pool).</summary>
    public string PoolName { get; }

    /// <inheritdoc/>
    public void Add(Action<EndpointBuilder> convention) => _inner.Add(convention);

    /// <inheritdoc/>
    public void Finally(Action<EndpointBuilder> finallyConvention) => _inner.Finally(finallyConvention);
}

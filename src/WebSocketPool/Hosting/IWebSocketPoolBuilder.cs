// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.DependencyInjection;

namespace WebSocketPool;

/// <summary>Returned by <c>AddWebSocketPooling</c> so that handler, user resolver and scale-out registrations chain.</summary>
public interface IWebSocketPoolBuilder
{
    /// <summary>Gets the service collection the pool is registered in.</summary>
    IServiceCollection Services { get; }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.DependencyInjection;

namespace WebSocketPool.Internal;

internal sealed class WebSocketPoolBuilder(IServiceCollection services) : IWebSocketPoolBuilder
{
    public IServiceCollection Services { get; } = services;
}

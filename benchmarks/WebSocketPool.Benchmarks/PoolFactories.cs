// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using WebSocketPool.Internal;

namespace WebSocketPool.Benchmarks;

/// <summary>Builds a real <see cref="PooledWebSocketManagerFactory"/> the way the service registration does, without a host.</summary>
internal static class PoolFactories
{
    public static (PooledWebSocketManagerFactory Factory, ServiceProvider Services) Create(WebSocketPoolOptions options)
    {
        var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var meterFactory = services.GetRequiredService<IMeterFactory>();
        var factory = new PooledWebSocketManagerFactory(Options.Create(options), TimeProvider.System, new WebSocketPoolMetrics(meterFactory));
        return (factory, services);
    }
}

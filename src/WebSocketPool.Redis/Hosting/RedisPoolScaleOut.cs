// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using WebSocketPool.Internal;

namespace WebSocketPool.Redis.Internal;

/// <summary>
/// Gives each named pool the scale-out <c>AddRedis</c> gives the default one, built from the same registrations in a
/// container of the pool's own: its lease gate, bus and sender, under the key prefix <c>{Prefix}:{pool}</c>. So a named
/// pool's limits are cluster-wide on keys of its own (<c>{websocketpool:notify}:leases:USER</c>) and its messages travel
/// on channels of its own (<c>{websocketpool:notify}:user:USER</c>), while the default pool keeps today's keys and
/// channels. Every pool shares the app's one Redis connection, and its own options, metrics and logs.
/// </summary>
internal sealed class RedisPoolScaleOut(IServiceProvider services) : IWebSocketPoolScaleOut, IAsyncDisposable
{
    private readonly List<ServiceProvider> _pools = [];

    public PoolScaleOut Create(string poolName, PooledWebSocketManagerFactory factory, IWebSocketSender localSender)
    {
        var pool = new ServiceCollection();
        pool.AddSingleton(services.GetRequiredService<ILoggerFactory>());
        pool.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
        pool.AddSingleton(services.GetRequiredService<TimeProvider>());
        pool.AddSingleton(factory);
        pool.AddSingleton<IOptions<WebSocketPoolOptions>>(Options.Create(factory.Options));
        pool.AddSingleton(localSender);

        var shared = services.GetRequiredService<RedisConnection>();
        WebSocketPoolRedisBuilderExtensions.AddScaleOut(pool, new RedisMultiplexerSource(null, shared));

        // The app's Redis options (its configuration and callbacks), in a key space of the pool's own.
        foreach (var setup in services.GetServices<IConfigureOptions<RedisWebSocketPoolOptions>>())
        {
            pool.AddSingleton(setup);
        }

        pool.AddSingleton<IPostConfigureOptions<RedisWebSocketPoolOptions>>(new PostConfigureOptions<RedisWebSocketPoolOptions>(
            Options.DefaultName, options => options.Prefix = options.Prefix + ":" + poolName));

        // Last, so that the pool's instruments are the app's (AddScaleOut registers a meter factory of its own).
        pool.AddSingleton(services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());

        var provider = pool.BuildServiceProvider();
        lock (_pools)
        {
            _pools.Add(provider);
        }

        return new PoolScaleOut(
            provider.GetRequiredService<IWebSocketAdmissionGate>(),
            provider.GetRequiredService<IWebSocketSender>(),
            provider.GetRequiredService<RedisWebSocketPoolService>());
    }

    public async ValueTask DisposeAsync()
    {
        ServiceProvider[] pools;
        lock (_pools)
        {
            pools = [.. _pools];
            _pools.Clear();
        }

        foreach (var pool in pools)
        {
            await pool.DisposeAsync().ConfigureAwait(false);
        }
    }
}

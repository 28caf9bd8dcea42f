// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using WebSocketPool;
using WebSocketPool.Redis;
using WebSocketPool.Internal;
using WebSocketPool.Redis.Internal;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Plugs Redis scale-out into the WebSocket pool: cross-node sends and cluster-wide per-user limits.</summary>
public static class WebSocketPoolRedisBuilderExtensions
{
    /// <summary>The name of the health check <c>AddRedis</c> registers.</summary>
    public const string HealthCheckName = "websocketpool-redis";

    /// <summary>Scales the pool out on Redis, connecting with <see cref="RedisWebSocketPoolOptions.Configuration"/>.</summary>
    /// <param name="builder">The pool builder returned by <c>AddWebSocketPooling</c>.</param>
    /// <param name="configure">Sets the options (at least <see cref="RedisWebSocketPoolOptions.Configuration"/>).</param>
    /// <returns>The builder, for chaining.</returns>
    public static IWebSocketPoolBuilder AddRedis(this IWebSocketPoolBuilder builder, Action<RedisWebSocketPoolOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        AddCore(builder.Services, multiplexer: null);
        builder.Services.Configure(configure);
        return builder;
    }

    /// <summary>Scales the pool out on Redis with options bound from <paramref name="configuration"/> (conventionally the <c>Redis</c> section); an unknown key is an error.</summary>
    /// <param name="builder">The pool builder returned by <c>AddWebSocketPooling</c>.</param>
    /// <param name="configuration">The section holding <see cref="RedisWebSocketPoolOptions"/>.</param>
    /// <returns>The builder, for chaining.</returns>
    public static IWebSocketPoolBuilder AddRedis(this IWebSocketPoolBuilder builder, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configuration);
        AddCore(builder.Services, multiplexer: null);
        builder.Services.AddOptions<RedisWebSocketPoolOptions>().Bind(configuration, static binder => binder.ErrorOnUnknownConfiguration = true);
        return builder;
    }

    /// <summary>
    /// Scales the pool out on an existing multiplexer, which the app keeps owning (it is neither closed nor disposed here).
    /// Give it <c>AbortOnConnectFail=false</c> so that a node starts while Redis is down.
    /// </summary>
    /// <param name="builder">The pool builder returned by <c>AddWebSocketPooling</c>.</param>
    /// <param name="multiplexer">The connection to use.</param>
    /// <param name="configure">Sets the other options; <see cref="RedisWebSocketPoolOptions.Configuration"/> is ignored.</param>
    /// <returns>The builder, for chaining.</returns>
    public static IWebSocketPoolBuilder AddRedis(this IWebSocketPoolBuilder builder, IConnectionMultiplexer multiplexer, Action<RedisWebSocketPoolOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(multiplexer);
        AddCore(builder.Services, multiplexer);
        if (configure is not null)
        {
            builder.Services.Configure(configure);
        }

        return builder;
    }

    private static void AddCore(IServiceCollection services, IConnectionMultiplexer? multiplexer)
    {
        if (services.Any(static d => d.ServiceType == typeof(RedisMultiplexerSource)))
        {
            throw new InvalidOperationException("AddRedis was already called for this WebSocket pool.");
        }

        AddScaleOut(services, new RedisMultiplexerSource(multiplexer));

        // Named pools (MapWebSocketPool with a name) get the same scale-out, each in a key space of its own.
        services.AddSingleton<RedisPoolScaleOut>();
        services.AddSingleton<IWebSocketPoolScaleOut>(static sp => sp.GetRequiredService<RedisPoolScaleOut>());
    }

    /// <summary>Everything one pool's scale-out runs on, around the pool's factory and local sender already registered.</summary>
    internal static void AddScaleOut(IServiceCollection services, RedisMultiplexerSource source)
    {
        // The sender registered so far (the pool's local one) becomes the inner sender the Redis one delivers through.
        var inner = services.LastOrDefault(static d => d.ServiceType == typeof(IWebSocketSender) && !d.IsKeyedService)
            ?? throw new InvalidOperationException("Call 'services.AddWebSocketPooling()' before 'AddRedis'.");

        services.AddMetrics();
        services.AddOptionsWithValidateOnStart<RedisWebSocketPoolOptions, RedisWebSocketPoolOptionsValidator>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RedisWebSocketPoolOptions>, RedisWebSocketPoolOptionsCrossValidator>());
        services.AddSingleton(source);
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<RedisWebSocketPoolMetrics>();
        services.AddSingleton<RedisConnection>();
        services.AddSingleton(sp => new RedisLocalSender(CreateInner(sp, inner)));
        services.AddSingleton<BusPublisher>();
        services.AddSingleton<PresenceFeed>();
        services.AddSingleton<RedisBus>();
        services.AddSingleton<RedisCommandGuard>();
        services.AddSingleton<LeaseTable>();
        services.AddSingleton(static sp => new ReleaseQueue(
            sp.GetRequiredService<RedisConnection>(),
            sp.GetRequiredService<IOptions<RedisWebSocketPoolOptions>>().Value,
            sp.GetRequiredService<IOptions<WebSocketPoolOptions>>().Value.MaxConnectionsPerUser));
        services.AddSingleton<NodeHeartbeat>();
        services.AddSingleton<PresenceAnnouncer>();
        services.AddSingleton<RedisLeaseGate>();

        // The pool's gate is the lease gate with the bus's interest in the user's channel and presence around it.
        services.AddSingleton<RoutingAdmissionGate>();
        services.AddSingleton<IWebSocketAdmissionGate>(static sp => sp.GetRequiredService<RoutingAdmissionGate>());
        services.AddSingleton(static sp => new RedisWebSocketSender(
            sp.GetRequiredService<RedisLocalSender>(), sp.GetRequiredService<RedisBus>(), sp.GetRequiredService<PooledWebSocketManagerFactory>(),
            sp.GetRequiredService<TimeProvider>()));
        services.Replace(ServiceDescriptor.Singleton<IWebSocketSender>(static sp => sp.GetRequiredService<RedisWebSocketSender>()));
        services.AddSingleton(static sp => new WebSocketClusterPresence(
            sp.GetRequiredService<RedisConnection>(),
            sp.GetRequiredService<RedisLeaseGate>(),
            sp.GetRequiredService<RedisBus>(),
            sp.GetRequiredService<PresenceFeed>(),
            sp.GetRequiredService<PooledWebSocketManagerFactory>(),
            sp.GetRequiredService<IOptions<RedisWebSocketPoolOptions>>(),
            sp.GetRequiredService<IOptions<WebSocketPoolOptions>>(),
            sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<RedisWebSocketPoolService>();
        services.AddSingleton<IHostedService>(static sp => sp.GetRequiredService<RedisWebSocketPoolService>());
        services.AddHealthChecks().AddCheck<RedisWebSocketPoolHealthCheck>(HealthCheckName, tags: ["websocketpool", "redis"]);
    }

    private static IWebSocketSender CreateInner(IServiceProvider services, ServiceDescriptor descriptor) =>
        (IWebSocketSender)(descriptor.ImplementationInstance
            ?? descriptor.ImplementationFactory?.Invoke(services)
            ?? ActivatorUtilities.CreateInstance(services, descriptor.ImplementationType!));
}

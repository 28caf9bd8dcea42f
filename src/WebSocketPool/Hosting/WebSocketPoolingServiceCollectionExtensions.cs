// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using WebSocketPool;
using WebSocketPool.Internal;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the WebSocket pool's services and options.</summary>
public static class WebSocketPoolingServiceCollectionExtensions
{
    /// <summary>Adds the pool with options bound from the <c>WebSocketPool</c> configuration section.</summary>
    /// <param name="services">The services.</param>
    /// <returns>A builder for the handler and other registrations.</returns>
    public static IWebSocketPoolBuilder AddWebSocketPooling(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        AddCore(services);
        services.AddOptions<WebSocketPoolOptions>()
            .Configure<IConfiguration>(static (options, configuration) => WebSocketPoolOptionsBinding.Bind(options, configuration.GetSection(WebSocketPoolOptions.SectionName), sharedSection: true));
        services.TryAddSingleton(new WebSocketPoolConfigurationSection(static sp => sp.GetService<IConfiguration>()?.GetSection(WebSocketPoolOptions.SectionName)));
        services.AddSingleton<IOptionsChangeTokenSource<WebSocketPoolOptions>>(static sp =>
            new ConfigurationChangeTokenSource<WebSocketPoolOptions>(sp.GetRequiredService<IConfiguration>().GetSection(WebSocketPoolOptions.SectionName)));
        return new WebSocketPoolBuilder(services);
    }

    /// <summary>Adds the pool with options bound from the <c>WebSocketPool</c> section, then changed by <paramref name="configure"/>.</summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">Changes the options.</param>
    /// <returns>A builder for the handler and other registrations.</returns>
    public static IWebSocketPoolBuilder AddWebSocketPooling(this IServiceCollection services, Action<WebSocketPoolOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        var builder = services.AddWebSocketPooling();
        services.Configure(configure);
        return builder;
    }

    /// <summary>Adds the pool with options bound from <paramref name="configuration"/>.</summary>
    /// <param name="services">The services.</param>
    /// <param name="configuration">The configuration section holding the options.</param>
    /// <returns>A builder for the handler and other registrations.</returns>
    public static IWebSocketPoolBuilder AddWebSocketPooling(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        AddCore(services);
        services.AddOptions<WebSocketPoolOptions>().Configure(options => WebSocketPoolOptionsBinding.Bind(options, configuration, sharedSection: true));
        services.TryAddSingleton(new WebSocketPoolConfigurationSection(_ => configuration));
        services.AddSingleton<IOptionsChangeTokenSource<WebSocketPoolOptions>>(new ConfigurationChangeTokenSource<WebSocketPoolOptions>(configuration));
        return new WebSocketPoolBuilder(services);
    }

    private static string PoolName(object? key) => key as string
        ?? throw new InvalidOperationException($"WebSocket pools are keyed by their name (a string), not by '{key}'.");

    private static void AddCore(IServiceCollection services)
    {
        services.AddMetrics();

        // Resume tokens (Resumption/ResumeTokens) are protected with the app's key ring; idempotent, and cheap until used.
        services.AddDataProtection();
        services.AddOptionsWithValidateOnStart<WebSocketPoolOptions, WebSocketPoolOptionsValidator>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<WebSocketPoolOptions>, WebSocketPoolOptionsCrossValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPostConfigureOptions<WebSocketPoolOptions>, WebSocketPoolDescriptorBudget>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPostConfigureOptions<KestrelServerOptions>, KestrelConnectionLimits>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<WebSocketPoolMetrics>();
        services.TryAddSingleton<SharedUserLimits>();
        services.TryAddSingleton(static sp => new PooledWebSocketManagerFactory(
            sp.GetRequiredService<IOptions<WebSocketPoolOptions>>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<WebSocketPoolMetrics>(),
            sp.GetService<ILogger<PooledWebSocketManagerFactory>>(),
            sp.GetRequiredService<SharedUserLimits>().For(WebSocketPoolOptions.DefaultPoolName, sp.GetRequiredService<IOptions<WebSocketPoolOptions>>().Value)));
        services.TryAddSingleton<WebSocketPoolRegistry>();
        services.TryAddSingleton<WebSocketPoolAuditor>();
        services.TryAddSingleton<DashboardHistory>();
        services.TryAddSingleton<LocalWebSocketSender>();
        services.TryAddSingleton<IWebSocketSender>(static sp => sp.GetRequiredService<LocalWebSocketSender>());

        // Every pool by name: [FromKeyedServices("notify")] IWebSocketSender, GetRequiredKeyedService<PooledWebSocketManagerFactory>("notify").
        // The default pool answers to WebSocketPoolOptions.DefaultPoolName; its sender is the registered one (Redis's with
        // AddRedis). A named pool's sender finds its pool at the first send, so it may be injected before the pool is mapped.
        services.TryAddKeyedSingleton<IWebSocketSender>(KeyedService.AnyKey, static (sp, key) => PoolName(key) is WebSocketPoolOptions.DefaultPoolName
            ? sp.GetRequiredService<IWebSocketSender>()
            : new NamedPoolSender(sp.GetRequiredService<WebSocketPoolRegistry>(), PoolName(key)));
        services.TryAddKeyedSingleton<PooledWebSocketManagerFactory>(KeyedService.AnyKey, static (sp, key) => sp.GetRequiredService<WebSocketPoolRegistry>().Get(PoolName(key)).Factory);
        services.TryAddSingleton<IUserKeyResolver, DefaultUserKeyResolver>();
        services.TryAddSingleton<WebSocketHandler, NoOpWebSocketHandler>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, WebSocketPoolHostedService>());
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace WebSocketPool.Internal;

/// <summary>
/// The app's pools by name: the default one (the registered services) and the named ones, each built when it is mapped
/// with options bound from <c>WebSocketPool:Pools:{name}</c> over the shared <c>WebSocketPool</c> section and validated
/// then. Keyed services (<see cref="IWebSocketSender"/>, <see cref="PooledWebSocketManagerFactory"/>), the stats endpoint
/// and the health check find a pool here.
/// </summary>
internal sealed class WebSocketPoolRegistry(IServiceProvider services) : IDisposable
{
    private readonly ConcurrentDictionary<string, WebSocketPoolInstance> _named = new(StringComparer.Ordinal);
    private WebSocketPoolInstance? _default;

    /// <summary>Gets the app's services.</summary>
    public IServiceProvider Services => services;

    /// <summary>Gets the default pool, built from the registered services on first use.</summary>
    public WebSocketPoolInstance Default => LazyInitializer.EnsureInitialized(ref _default, CreateDefault);

    /// <summary>Gets the named pools mapped so far.</summary>
    public ICollection<WebSocketPoolInstance> Named => _named.Values;

    /// <summary>Gets the default pool and every named one.</summary>
    public IEnumerable<WebSocketPoolInstance> All => _named.Values.Prepend(Default);

    /// <summary>Finds a pool by name (<see cref="WebSocketPoolOptions.DefaultPoolName"/> for the default one).</summary>
    public bool TryGet(string name, out WebSocketPoolInstance pool)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (string.Equals(name, WebSocketPoolOptions.DefaultPoolName, StringComparison.Ordinal))
        {
            pool = Default;
            return true;
        }

        return _named.TryGetValue(name, out pool!);
    }

    /// <summary>Finds a pool by name, or says which pools there are.</summary>
    /// <exception cref="InvalidOperationException">No pool has that name.</exception>
    public WebSocketPoolInstance Get(string name) => TryGet(name, out var pool)
        ? pool
        : throw new InvalidOperationException(
            $"No WebSocket pool is named '{name}'. Pools: {string.Join(", ", All.Select(static p => "'" + p.Name + "'"))}; a named pool exists once app.MapWebSocketPool<THandler>(pattern, \"{name}\") has run.");

    /// <summary>Builds the named pool <paramref name="name"/>; its options are validated now.</summary>
    /// <exception cref="InvalidOperationException">A pool of that name exists.</exception>
    /// <exception cref="OptionsValidationException">The pool's options are not valid.</exception>
    public WebSocketPoolInstance Create(string name, Action<WebSocketPoolOptions>? configure)
    {
        if (_named.ContainsKey(name))
        {
            throw new InvalidOperationException($"A WebSocket pool named '{name}' is already mapped: pool names are unique in an app.");
        }

        var options = CreateOptions(name, configure);
        var shared = services.GetRequiredService<SharedUserLimits>().For(name, options);
        var scaleOut = services.GetService<IWebSocketPoolScaleOut>();
        if (scaleOut is not null && shared is not null)
        {
            throw new InvalidOperationException(
                $"The pool '{name}' is in the UserLimitGroup '{shared.Name}', which Redis scale-out does not support: a shared total is kept on one node. Remove UserLimitGroup, or AddRedis.");
        }

        var wrapped = Microsoft.Extensions.Options.Options.Create(options);
        var time = services.GetRequiredService<TimeProvider>();
        var factory = new PooledWebSocketManagerFactory(wrapped, time, services.GetRequiredService<WebSocketPoolMetrics>().ForPool(name),
            services.GetService<ILogger<PooledWebSocketManagerFactory>>(), shared);
        var resolver = services.GetRequiredService<IUserKeyResolver>() is DefaultUserKeyResolver
            ? new DefaultUserKeyResolver(wrapped)
            : services.GetRequiredService<IUserKeyResolver>();
        var auditor = new WebSocketPoolAuditor(factory, wrapped, time, services.GetRequiredService<ILogger<WebSocketPoolAuditor>>());
        IWebSocketSender sender = new LocalWebSocketSender(factory);
        var built = scaleOut?.Create(name, factory, sender);
        if (built is not null)
        {
            factory.AttachGate(built.Gate);
        }

        var pool = new WebSocketPoolInstance(name, factory, resolver, built?.Sender ?? sender, auditor, built?.Gate, built?.Lifecycle);
        if (!_named.TryAdd(name, pool))
        {
            factory.Dispose();
            throw new InvalidOperationException($"A WebSocket pool named '{name}' is already mapped: pool names are unique in an app.");
        }

        return pool;
    }

    /// <summary>
    /// Checks at start-up that every pool configured under <c>WebSocketPool:Pools</c> is mapped: a section for a pool
    /// that does not exist is a misspelt name, refused like an unknown key.
    /// </summary>
    /// <exception cref="InvalidOperationException">A configured pool is not mapped.</exception>
    public void ThrowIfConfiguredPoolIsNotMapped()
    {
        if (PoolsSection() is not { } pools)
        {
            return;
        }

        foreach (var child in pools.GetChildren())
        {
            if (!_named.ContainsKey(child.Key))
            {
                throw new InvalidOperationException(
                    $"The configuration section '{child.Path}' configures a WebSocket pool named '{child.Key}', but no pool of that name is mapped (mapped: {string.Join(", ", _named.Keys.Select(static k => "'" + k + "'").DefaultIfEmpty("none"))}). Map it with app.MapWebSocketPool<THandler>(pattern, \"{child.Key}\"), or correct the name.");
            }
        }
    }

    private WebSocketPoolInstance CreateDefault()
    {
        var factory = services.GetRequiredService<PooledWebSocketManagerFactory>();
        var gate = services.GetServices<IWebSocketAdmissionGate>().LastOrDefault();
        if (gate is not null)
        {
            // At most one gate: the last registered wins, as with any DI service. It hears of every slot given up.
            factory.AttachGate(gate);
        }

        return new WebSocketPoolInstance(WebSocketPoolOptions.DefaultPoolName, factory, services.GetRequiredService<IUserKeyResolver>(),
            services.GetRequiredService<IWebSocketSender>(), services.GetRequiredService<WebSocketPoolAuditor>(), gate, scaleOut: null);
    }

    /// <summary>
    /// A named pool's options: everything that configures the default pool (the shared <c>WebSocketPool</c> section and
    /// the app's <c>Configure</c> calls), then the pool's own section (an unknown key is an error), then the callback given
    /// to <c>MapWebSocketPool</c>; then the post-configuration and validation of every pool.
    /// </summary>
    private WebSocketPoolOptions CreateOptions(string name, Action<WebSocketPoolOptions>? configure)
    {
        var setups = services.GetServices<IConfigureOptions<WebSocketPoolOptions>>().ToArray();
        var section = PoolsSection()?.GetSection(name);
        var own = new ConfigureNamedOptions<WebSocketPoolOptions>(name, options =>
        {
            foreach (var setup in setups)
            {
                if (setup is IConfigureNamedOptions<WebSocketPoolOptions> named)
                {
                    named.Configure(Microsoft.Extensions.Options.Options.DefaultName, options);
                }
                else
                {
                    setup.Configure(options);
                }
            }

            if (section is not null && section.GetChildren().Any())
            {
                WebSocketPoolOptionsBinding.Bind(options, section);
            }

            configure?.Invoke(options);
        });

        var factory = new OptionsFactory<WebSocketPoolOptions>(
            [own],
            services.GetServices<IPostConfigureOptions<WebSocketPoolOptions>>(),
            services.GetServices<IValidateOptions<WebSocketPoolOptions>>());
        return factory.Create(name);
    }

    /// <summary>The named pools' parts are the registry's own (the default pool's are the container's).</summary>
    public void Dispose()
    {
        foreach (var pool in _named.Values)
        {
            pool.Auditor.Dispose();
            pool.Factory.Dispose();
        }
    }

    private IConfigurationSection? PoolsSection() =>
        services.GetService<WebSocketPoolConfigurationSection>()?.Resolve(services)?.GetSection(WebSocketPoolOptions.PoolsSectionName);
}

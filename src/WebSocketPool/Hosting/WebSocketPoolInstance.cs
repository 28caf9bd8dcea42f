// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Hosting;

namespace WebSocketPool.Internal;

/// <summary>
/// Everything one pool runs on: its options, its factory (limits, leases, registry), its handler and user resolver,
/// its sender, its audit, and its admission gate and scale-out lifecycle when it has them. The default pool's parts are
/// the app's registered services; a named pool's are built for it when it is mapped.
/// </summary>
internal sealed class WebSocketPoolInstance(
    string name,
    PooledWebSocketManagerFactory factory,
    IUserKeyResolver resolver,
    IWebSocketSender sender,
    WebSocketPoolAuditor auditor,
    IWebSocketAdmissionGate? gate,
    IHostedLifecycleService? scaleOut)
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<Type, object> _features = new();
    private int _served;

    public string Name { get; } = name;

    public PooledWebSocketManagerFactory Factory { get; } = factory;

    public WebSocketPoolOptions Options => Factory.Options;

    public IUserKeyResolver Resolver { get; } = resolver;

    public IWebSocketSender Sender { get; } = sender;

    public WebSocketPoolAuditor Auditor { get; } = auditor;

    public IWebSocketAdmissionGate? Gate { get; } = gate;

    /// <summary>Gets the scale-out a named pool runs with (the default pool's is a hosted service of its own).</summary>
    public IHostedLifecycleService? ScaleOut { get; } = scaleOut;

    /// <summary>Gets the handler of the pool's connections, once the pool is served.</summary>
    public WebSocketHandler? Handler { get; private set; }

    /// <summary>Gets a value indicating whether a route or the middleware serves the pool.</summary>
    public bool IsServed => Volatile.Read(ref _served) != 0;

    /// <summary>Gets the pool's one <typeparamref name="T"/> (for example its dashboard's history), made on first use.</summary>
    public T GetOrAddFeature<T>(Func<T> create)
        where T : class => (T)_features.GetOrAdd(typeof(T), static (_, c) => ((Func<T>)c)(), create);

    /// <summary>Claims the pool for one route (or the middleware): a pool is served in one place only.</summary>
    /// <exception cref="InvalidOperationException">The pool is already served.</exception>
    public void Serve(WebSocketHandler handler, string where)
    {
        if (Interlocked.Exchange(ref _served, 1) != 0)
        {
            throw new InvalidOperationException(
                $"The WebSocket pool '{Name}' is already served ({where} would serve it a second time): map each pool once, and give another endpoint a pool of its own name.");
        }

        Handler = handler;
    }
}

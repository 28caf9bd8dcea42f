// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace WebSocketPool.TestSupport;

/// <summary>
/// A real Kestrel host on 127.0.0.1 and a free port, with the pool switched on exactly as an app does it, in the test
/// process. Users are taken from the <c>user</c> query parameter (test-only resolver) unless the test configures
/// otherwise; a test adds what it needs (a handler, a gate, Redis, health checks) through the callbacks.
/// </summary>
public sealed class PoolTestServer : IAsyncDisposable
{
    private PoolTestServer(WebApplication app, Uri baseUri)
    {
        App = app;
        BaseUri = baseUri;
    }

    public WebApplication App { get; }

    public Uri BaseUri { get; }

    public PooledWebSocketManagerFactory Factory => App.Services.GetRequiredService<PooledWebSocketManagerFactory>();

    public IWebSocketSender Sender => App.Services.GetRequiredService<IWebSocketSender>();

    /// <summary>Gets the factory of the pool mapped with <paramref name="name"/>.</summary>
    public PooledWebSocketManagerFactory Pool(string name) => App.Services.GetRequiredKeyedService<PooledWebSocketManagerFactory>(name);

    /// <summary>Starts the host.</summary>
    /// <param name="configure">Sets options after the test defaults (no audit timer).</param>
    /// <param name="pool">Adds to the pool (handler, gate, scale-out) after the query-parameter user resolver.</param>
    /// <param name="services">Adds further services.</param>
    /// <param name="pipeline">Builds the pipeline; by default <c>app.UseWebSocketPooling()</c> alone.</param>
    /// <param name="settings">Configuration keys and values (for example <c>WebSocketPool:Pools:chat:MaxConnectionsPerUser</c>).</param>
    /// <param name="port">The loopback port; 0 (the default) lets the OS choose a free one. A test that restarts a server on the same address passes the first one's port.</param>
    /// <param name="contentRoot">
    /// The host's content root; by default the test's output folder, whose appsettings.json (a sample's, in a project that
    /// references one) is then read too. A test that must not see it passes an empty folder.
    /// </param>
    public static async Task<PoolTestServer> StartAsync(
        Action<WebSocketPoolOptions>? configure = null,
        Action<IWebSocketPoolBuilder>? pool = null,
        Action<IServiceCollection>? services = null,
        Action<WebApplication>? pipeline = null,
        IEnumerable<KeyValuePair<string, string?>>? settings = null,
        int port = 0,
        string? contentRoot = null)
    {
        var builder = contentRoot is null ? WebApplication.CreateSlimBuilder() : WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = contentRoot });
        if (settings is not null)
        {
            builder.Configuration.AddInMemoryCollection(settings);
        }

        builder.WebHost.UseKestrel().UseUrls($"http://127.0.0.1:{port.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var poolBuilder = builder.Services.AddWebSocketPooling(o =>
        {
            o.AuditInterval = TimeSpan.Zero;
            configure?.Invoke(o);
        }).AddUserKeyResolver<QueryUserKeyResolver>();
        pool?.Invoke(poolBuilder);
        services?.Invoke(builder.Services);
        var app = builder.Build();
        if (pipeline is not null)
        {
            pipeline(app);
        }
        else
        {
            app.UseWebSocketPooling();
        }

        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new PoolTestServer(app, new Uri(address));
    }

    public Uri WebSocketUri(string user, string path = "/ws") => BaseUri.WebSocketUri(user, path);

    public async Task<ClientWebSocket> ConnectAsync(string user, CancellationToken cancellationToken = default)
    {
        var client = new ClientWebSocket();
        client.Options.KeepAliveInterval = TimeSpan.Zero;
        await client.ConnectAsync(WebSocketUri(user), cancellationToken);
        return client;
    }

    /// <summary>
    /// Opens a WebSocket to <paramref name="path"/> for <paramref name="user"/>; a refused handshake throws a
    /// <see cref="WebSocketException"/> whose message holds the status code.
    /// </summary>
    public async Task<ClientWebSocket> ConnectAsync(string user, string path, CancellationToken cancellationToken = default)
    {
        var client = new ClientWebSocket();
        client.Options.KeepAliveInterval = TimeSpan.Zero;
        client.Options.CollectHttpResponseDetails = true;
        try
        {
            await client.ConnectAsync(WebSocketUri(user, path), cancellationToken);
        }
        catch (WebSocketException ex)
        {
            var status = client.HttpStatusCode;
            client.Dispose();
            throw new WebSocketException(ex.WebSocketErrorCode, $"The handshake to {path} for '{user}' was refused with {(int)status}.", ex);
        }

        return client;
    }

    /// <summary>Waits until <paramref name="condition"/> holds, and fails with <paramref name="because"/> after the deadline.</summary>
    public static Task WaitUntilAsync(Func<bool> condition, TimeSpan deadline, string because) =>
        Conditions.WaitAsync(condition, deadline, because);

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }

    private sealed class QueryUserKeyResolver : IUserKeyResolver
    {
        public ValueTask<string?> ResolveUserKeyAsync(HttpContext context)
        {
            var user = context.Request.Query["user"].ToString();
            return new(string.IsNullOrEmpty(user) ? null : user);
        }
    }
}

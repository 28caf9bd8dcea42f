// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.DependencyInjection;

namespace WebSocketPool.Client.Tests;

/// <summary>Starts a <see cref="PoolTestServer"/> with the <see cref="CommandHandler"/>, and builds clients for it.</summary>
public static class ClientTestServer
{
    public static Task<PoolTestServer> StartAsync(Action<WebSocketPoolOptions>? configure = null, int port = 0) =>
        PoolTestServer.StartAsync(
            o =>
            {
                o.KeepAliveInterval = TimeSpan.Zero;
                configure?.Invoke(o);
            },
            pool => pool.AddHandler<CommandHandler>(),
            services => services.AddSingleton<ReceivedMessages>(),
            port: port);

    public static ReceivedMessages Received(this PoolTestServer server) => server.App.Services.GetRequiredService<ReceivedMessages>();

    /// <summary>Client options for <paramref name="user"/> on <paramref name="baseUri"/>, with known delays: backoff steps of 2 s, prompt up to 200 ms.</summary>
    public static WebSocketPoolClientOptions Options(Uri baseUri, string user, Action<WebSocketPoolClientOptions>? configure = null)
    {
        var options = new WebSocketPoolClientOptions
        {
            Uri = baseUri.WebSocketUri(user),
            ReconnectBaseDelay = TimeSpan.FromSeconds(2),
            ReconnectMaxDelay = TimeSpan.FromSeconds(60),
            PromptReconnectMaxDelay = TimeSpan.FromMilliseconds(200),
            MaxReconnectAttempts = 20,
            KeepAliveInterval = TimeSpan.Zero,
        };
        configure?.Invoke(options);
        return options;
    }

    public static string NewUser(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>Sends <paramref name="text"/> and reads messages until its echo comes back.</summary>
    public static async Task EchoAsync(this WebSocketPoolClient client, string text)
    {
        await client.SendTextAsync(text);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await foreach (var message in client.ReadAllAsync(timeout.Token))
        {
            if (message.IsText && message.GetText() == text)
            {
                return;
            }
        }

        throw new InvalidOperationException($"The client closed before '{text}' came back.");
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Client.Tests;

/// <summary>One pool server with the <see cref="CommandHandler"/> for a test class; each test uses users of its own.</summary>
public sealed class CommandServerFixture : IAsyncLifetime
{
    private PoolTestServer? _server;

    public PoolTestServer Server => _server ?? throw new InvalidOperationException("Not started.");

    public async Task InitializeAsync() => _server = await ClientTestServer.StartAsync();

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}

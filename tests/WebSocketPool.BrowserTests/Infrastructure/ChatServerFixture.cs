// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.BrowserTests.Infrastructure;

/// <summary>One ChatServer process with its shipped settings, shared by the tests of a class (each uses its own user names).</summary>
public sealed class ChatServerFixture : IAsyncLifetime
{
    private ServerProcess? _server;

    public ServerProcess Server => _server ?? throw new InvalidOperationException("The server is not running.");

    public async Task InitializeAsync() => _server = await ServerProcess.StartAsync(SampleServers.ChatServer());

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}

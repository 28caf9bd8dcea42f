// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.BrowserTests.Infrastructure;

/// <summary>
/// One ChatServer process with its shipped settings and ASP.NET Core's forwarded-headers path switched on
/// (<c>ASPNETCORE_FORWARDEDHEADERS_ENABLED</c>, which trusts the proxy in front): a test on this machine can then stand
/// for a remote caller by sending <c>X-Forwarded-For</c>, since every 127.x address is loopback.
/// </summary>
public sealed class ObservedChatServerFixture : IAsyncLifetime
{
    private ServerProcess? _server;

    public ServerProcess Server => _server ?? throw new InvalidOperationException("The server is not running.");

    public async Task InitializeAsync()
    {
        var options = SampleServers.ChatServer();
        options.Environment["ASPNETCORE_FORWARDEDHEADERS_ENABLED"] = "true";
        _server = await ServerProcess.StartAsync(options);
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}

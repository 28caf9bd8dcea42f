// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using System.Net.Sockets;

namespace WebSocketPool.Client.Tests;

/// <summary>A loopback port nothing listens on (yet): connecting to it is refused until a test starts a server there.</summary>
public static class FreePort
{
    public static int Next()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static Uri BaseUri(int port) => new($"http://127.0.0.1:{port}/");
}

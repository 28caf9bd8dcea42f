// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using WebSocketPool.IntegrationTests.Reliability;

namespace WebSocketPool.Soak;

/// <summary>
/// The <c>hold</c> mode: a client process that opens connections and keeps them until it is killed. The soak run kills
/// such processes to check that a crashed client's leases all come back.
/// </summary>
internal static class ConnectionHolder
{
    public static async Task<int> RunAsync(SoakOptions options)
    {
        var clients = new List<RawWebSocketClient>(options.Count);
        try
        {
            for (var i = 0; i < options.Count; i++)
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                var client = await RawWebSocketClient.OpenAsync(options.Url, bufferSize: 1024, cancellationToken: cts.Token);
                clients.Add(client);
                var status = await client.HandshakeAsync(options.Url, options.User, cts.Token);
                if (status != 101)
                {
                    Console.WriteLine($"refused {status}");
                    return 2;
                }
            }

            Console.WriteLine("ready");

            // Held until killed; a closed stdin ends the hold gracefully.
            await Console.In.ReadToEndAsync();
            return 0;
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }
}

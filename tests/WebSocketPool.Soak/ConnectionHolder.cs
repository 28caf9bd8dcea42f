// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using WebSocketPool.TestSupport;

namespace WebSocketPool.Soak;

/// <summary>
/// The <c>hold</c> mode: a client process that opens connections and keeps them until it is killed. The soak run kills
/// such processes to check that a crashed client's leases all come back.
/// </summary>
internal static class ConnectionHolder
{
    /// <summary>
    /// Prints one line the soak run judges: <c>ready</c> once all connections are open; <c>refused expected KEY</c> or
    /// <c>refused unexpected DESCRIPTION</c> when an upgrade was not accepted (see <see cref="HandshakeRefusal"/>);
    /// <c>error TYPE: MESSAGE</c> when a handshake failed with an exception.
    /// </summary>
    public static async Task<int> RunAsync(SoakOptions options)
    {
        var clients = new List<RawWebSocketClient>(options.Count);
        try
        {
            for (var i = 0; i < options.Count; i++)
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                var client = await RawWebSocketClient.OpenAsync(options.Url, bufferSize: 1024, cancellationToken: cts.Token);
                clients.Add(client);
                var status = await client.HandshakeAsync(options.Url, options.User, cts.Token);
                if (status != 101)
                {
                    var refusal = await HandshakeRefusal.ReadAsync(client, status);
                    Console.WriteLine(refusal.IsExpected ? $"refused expected {refusal.Key}" : $"refused unexpected {refusal.Description}");
                    return 2;
                }
            }

            Console.WriteLine("ready");

            // Held until killed; a closed stdin ends the hold gracefully.
            await Console.In.ReadToEndAsync();
            return 0;
        }
#pragma warning disable CA1031 // Reported to the soak run, which judges it.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Console.WriteLine($"error {ex.GetType().Name}: {ex.Message.ReplaceLineEndings(" ")}");
            return 3;
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

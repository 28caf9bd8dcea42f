// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Redis.Tests.Infrastructure;

/// <summary>Waits until a node in a child process answers <c>/health</c> with Healthy, so that its Redis is connected.</summary>
public static class NodeHealth
{
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(30);

    /// <summary>Starts a sample node and waits until it is Healthy; the node is disposed when it never gets there.</summary>
    public static async Task<ServerProcess> StartHealthyAsync(ServerProcessOptions options)
    {
        var node = await ServerProcess.StartAsync(options);
        try
        {
            await WaitHealthyAsync(node);
        }
        catch
        {
            await node.DisposeAsync();
            throw;
        }

        return node;
    }

    public static async Task WaitHealthyAsync(ServerProcess node)
    {
        ArgumentNullException.ThrowIfNull(node);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        await Conditions.WaitAsync(async () =>
        {
            if (node.HasExited)
            {
                throw new InvalidOperationException($"The node exited before it was ready.{Environment.NewLine}{node.Output}");
            }

            try
            {
                using var response = await http.GetAsync(new Uri(node.BaseUri, "/health"));
                return await response.Content.ReadAsStringAsync() == "Healthy";
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                return false;
            }
        }, s_deadline, "the node answers /health with Healthy (Redis connected)");
    }
}

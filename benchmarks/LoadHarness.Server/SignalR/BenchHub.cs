// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.AspNetCore.SignalR;

namespace LoadHarness.Server.SignalR;

/// <summary>
/// The SignalR server: <c>Echo(text)</c> sends the text back to the caller as a <c>m</c> invocation, which is the
/// same receive-then-send work the other two do. Send-to-user and broadcast go through <c>IHubContext</c>
/// (<c>Clients.User</c>, <c>Clients.All</c>) from the trigger endpoints.
/// </summary>
internal sealed class BenchHub(ConnectionCounter counter, ReleaseLog releases) : Hub
{
    private const string TagKey = "c";

    public Task Echo(string text) => Clients.Caller.SendAsync("m", text);

    public override Task OnConnectedAsync()
    {
        counter.Increment();
        if (Context.GetHttpContext() is { } http && ReleaseLog.TagOf(http) is { } tag)
        {
            Context.Items[TagKey] = tag;
        }

        return Task.CompletedTask;
    }

    public override Task OnDisconnectedAsync(Exception? exception)
    {
        counter.Decrement();
        releases.Record(Context.Items.TryGetValue(TagKey, out var tag) ? tag as string : null);
        return Task.CompletedTask;
    }
}

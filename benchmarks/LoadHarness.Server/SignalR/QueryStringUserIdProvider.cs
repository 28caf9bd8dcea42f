// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.AspNetCore.SignalR;

namespace LoadHarness.Server.SignalR;

/// <summary>Takes the SignalR user id from <c>?user=NAME</c>, the same insecure demo key the pool mode uses.</summary>
internal sealed class QueryStringUserIdProvider : IUserIdProvider
{
    public string? GetUserId(HubConnectionContext connection)
    {
        var user = connection.GetHttpContext()?.Request.Query["user"].ToString();
        return string.IsNullOrEmpty(user) ? null : user;
    }
}

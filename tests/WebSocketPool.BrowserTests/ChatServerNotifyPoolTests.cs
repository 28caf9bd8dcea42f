// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using System.Net.WebSockets;
using System.Text.Json;
using WebSocketPool.BrowserTests.Infrastructure;

namespace WebSocketPool.BrowserTests;

/// <summary>
/// The ChatServer's second pool, <c>/ws/notify</c> (2 per user, its own handler, <c>WebSocketPool:Pools:notify</c>),
/// checked against the real server process with its shipped settings, beside the chat pool it is independent of.
/// </summary>
public sealed class ChatServerNotifyPoolTests(ChatServerFixture fixture) : IClassFixture<ChatServerFixture>
{
    private const string ProblemJson = "application/problem+json";

    private Uri BaseUri => fixture.Server.BaseUri;

    private Uri NotifyUri => new UriBuilder(BaseUri) { Scheme = "ws", Path = "/ws/notify" }.Uri;

    [Fact]
    public async Task Notify_SignedIn_NoticeFirstTwoPerUserThenRefused429()
    {
        // Arrange
        using var client = ChatClient.For(BaseUri);
        await client.LoginAsync("notify-limit");
        using var chat = await client.ConnectAsync();

        // Act
        using var first = await ConnectNotifyAsync(client);
        var notice = await ChatClient.ReceiveAsync(first);
        using var second = await ConnectNotifyAsync(client);
        var secondNotice = await ChatClient.ReceiveAsync(second);
        using var third = client.CreateSocket();
        var connectThird = () => third.ConnectAsync(NotifyUri, CancellationToken.None);
        await connectThird.Should().ThrowAsync<WebSocketException>();
        using var preview = await client.Http.GetAsync(new Uri("/ws/notify", UriKind.Relative));
        using var chatPreview = await client.PreviewAsync();

        // Assert
        notice.GetProperty("type").GetString().Should().Be("notice");
        notice.GetProperty("connections").GetInt32().Should().Be(1);
        notice.GetProperty("limit").GetInt32().Should().Be(2, "appsettings.json gives the notify pool 2 per user");
        secondNotice.GetProperty("connections").GetInt32().Should().Be(2);
        third.HttpStatusCode.Should().Be(HttpStatusCode.TooManyRequests);
        preview.StatusCode.Should().Be(HttpStatusCode.TooManyRequests);
        using var problem = JsonDocument.Parse(await preview.Content.ReadAsStringAsync());
        problem.RootElement.GetProperty("limit").GetInt32().Should().Be(2);
        problem.RootElement.GetProperty("current").GetInt32().Should().Be(2);
        using var chatBody = JsonDocument.Parse(await chatPreview.Content.ReadAsStringAsync());
        chatBody.RootElement.GetProperty("connections").GetInt32().Should().Be(1, "the chat pool counts its own connections only");
        chatBody.RootElement.GetProperty("limit").GetInt32().Should().Be(5);
    }

    [Fact]
    public async Task Notify_WithoutCookie_Refused401ProblemNotARedirect()
    {
        using var client = ChatClient.For(BaseUri);
        using var socket = client.CreateSocket();

        using var preview = await client.Http.GetAsync(new Uri("/ws/notify", UriKind.Relative));
        var connect = () => socket.ConnectAsync(NotifyUri, CancellationToken.None);

        await connect.Should().ThrowAsync<WebSocketException>();
        socket.HttpStatusCode.Should().Be(HttpStatusCode.Unauthorized);
        preview.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        preview.Content.Headers.ContentType?.MediaType.Should().Be(ProblemJson);
        preview.Headers.Location.Should().BeNull();
    }

    [Fact]
    public async Task Notify_TimeOnDemand_AnsweredWithIsoTimeAndOtherTypesWithError()
    {
        // Arrange
        using var client = ChatClient.For(BaseUri);
        await client.LoginAsync("notify-time");
        using var socket = await ConnectNotifyAsync(client);
        await ChatClient.ReceiveAsync(socket, "notice");

        // Act
        await ChatClient.SendAsync(socket, """{"type":"time"}""");
        var time = await ChatClient.ReceiveAsync(socket, "time");
        await ChatClient.SendAsync(socket, """{"type":"chat","text":"wrong pool"}""");
        var error = await ChatClient.ReceiveAsync(socket, "error");

        // Assert
        time.GetProperty("at").GetString().Should().MatchRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$");
        error.GetProperty("code").GetString().Should().Be("unknown_type");
        socket.State.Should().Be(WebSocketState.Open);
    }

    [Fact]
    public async Task Notify_UsersFirstChatConnection_PushedAsJoinedToNotifyConnections()
    {
        // Arrange
        using var watcher = ChatClient.For(BaseUri);
        using var joiner = ChatClient.For(BaseUri);
        await watcher.LoginAsync("notify-watcher");
        await joiner.LoginAsync("notify-joiner");
        using var notifications = await ConnectNotifyAsync(watcher);
        await ChatClient.ReceiveAsync(notifications, "notice");

        // Act
        using var chat = await joiner.ConnectAsync();
        var joined = await ReceiveJoinedAsync(notifications, "notify-joiner");

        // Assert
        joined.GetProperty("at").GetString().Should().NotBeNullOrEmpty();
    }

    [Fact]
    public async Task Stats_PoolQuery_AnswersTheNotifyPoolAndUnknownIs404()
    {
        // Arrange
        using var client = ChatClient.For(BaseUri);
        await client.LoginAsync("notify-stats");
        using var socket = await ConnectNotifyAsync(client);
        await ChatClient.ReceiveAsync(socket, "notice");

        // Act
        using var stats = JsonDocument.Parse(await client.Http.GetStringAsync(new Uri("/stats?pool=notify", UriKind.Relative)));
        using var unknown = await client.Http.GetAsync(new Uri("/stats?pool=nope", UriKind.Relative));

        // Assert
        stats.RootElement.GetProperty("users").EnumerateArray()
            .Should().Contain(u => u.GetProperty("user").GetString() == "notify-stats" && u.GetProperty("limit").GetInt32() == 2);
        unknown.StatusCode.Should().Be(HttpStatusCode.NotFound);
        unknown.Content.Headers.ContentType?.MediaType.Should().Be(ProblemJson);
    }

    [Fact]
    public async Task Logout_SignedIn_ClosesNotifySocketsWith4003Too()
    {
        // Arrange
        using var client = ChatClient.For(BaseUri);
        await client.LoginAsync("notify-leaver");
        using var socket = await ConnectNotifyAsync(client);
        await ChatClient.ReceiveAsync(socket, "notice");

        // Act
        using var response = await client.LogoutAsync();

        // Assert
        response.StatusCode.Should().Be(HttpStatusCode.NoContent);
        (await ChatClient.ReceiveCloseAsync(socket)).Should().Be(4003);
    }

    private static async Task<JsonElement> ReceiveJoinedAsync(ClientWebSocket socket, string user)
    {
        // Other tests' users join too (the server is shared): wait for this one's notice, among at most 100.
        for (var i = 0; i < 100; i++)
        {
            var joined = await ChatClient.ReceiveAsync(socket, "joined");
            if (joined.GetProperty("user").GetString() == user)
            {
                return joined;
            }
        }

        throw new InvalidOperationException($"No 'joined' for {user} among the next 100.");
    }

    private async Task<ClientWebSocket> ConnectNotifyAsync(ChatClient client)
    {
        var socket = client.CreateSocket();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await socket.ConnectAsync(NotifyUri, timeout.Token);
        return socket;
    }
}

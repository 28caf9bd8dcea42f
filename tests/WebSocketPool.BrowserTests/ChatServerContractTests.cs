// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using System.Net.WebSockets;
using System.Text.Json;
using WebSocketPool.BrowserTests.Infrastructure;

namespace WebSocketPool.BrowserTests;

/// <summary>
/// The ChatServer's HTTP and WebSocket contract (DESIGN.md, "Observable contract of the samples"), checked without a
/// browser against the real server process started from a foreign working directory with its shipped settings.
/// </summary>
public sealed class ChatServerContractTests(ChatServerFixture fixture) : IClassFixture<ChatServerFixture>
{
    private const string ProblemJson = "application/problem+json";

    private Uri BaseUri => fixture.Server.BaseUri;

    [Theory]
    [InlineData("")]
    [InlineData("abcdefghijklmnopqrstuvwxyz0123456")] // 33 characters
    [InlineData("two words")]
    [InlineData("<script>")]
    [InlineData("josé")]
    [InlineData("a:b")]
    public async Task Login_InvalidName_Returns400ProblemWithoutRedirectOrCookie(string name)
    {
        using var client = ChatClient.For(BaseUri);

        using var response = await client.LoginAsync(name);

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        response.Content.Headers.ContentType?.MediaType.Should().Be(ProblemJson);
        response.Headers.Location.Should().BeNull();
        response.Headers.Contains("Set-Cookie").Should().BeFalse();
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        problem.RootElement.GetProperty("status").GetInt32().Should().Be(400);
        problem.RootElement.GetProperty("detail").GetString().Should().NotBeNullOrWhiteSpace();
    }

    [Fact]
    public async Task Login_NotAForm_Returns400Problem()
    {
        using var client = ChatClient.For(BaseUri);

        using var response = await client.Http.PostAsync(new Uri("/login", UriKind.Relative), new StringContent("{\"name\":\"alice\"}", System.Text.Encoding.UTF8, "application/json"));

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        response.Content.Headers.ContentType?.MediaType.Should().Be(ProblemJson);
    }

    [Theory]
    [InlineData("a")]
    [InlineData("abcdefghijklmnopqrstuvwxyz012345")] // 32 characters
    [InlineData("Ann.Lee-2_x")]
    public async Task Login_ValidName_Redirects302WithStrictHttpOnlyCookie(string name)
    {
        using var client = ChatClient.For(BaseUri);

        using var response = await client.LoginAsync(name);

        response.StatusCode.Should().Be(HttpStatusCode.Redirect);
        response.Headers.Location.Should().Be(new Uri("/", UriKind.Relative));
        var cookie = response.Headers.GetValues("Set-Cookie").Should().ContainSingle().Subject;
        cookie.Should().StartWith("chat.auth=").And.Contain("samesite=strict").And.Contain("httponly");
        cookie.Should().NotContain("secure", "the request was plain HTTP");
    }

    [Fact]
    public async Task Preview_WithoutCookie_Returns401ProblemNotARedirect()
    {
        using var client = ChatClient.For(BaseUri);

        using var response = await client.Http.GetAsync(new Uri("/ws", UriKind.Relative));

        response.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        response.Content.Headers.ContentType?.MediaType.Should().Be(ProblemJson);
        response.Headers.Location.Should().BeNull();
    }

    [Fact]
    public async Task Preview_SignedIn_ReturnsUserConnectionsAndLimit()
    {
        using var client = ChatClient.For(BaseUri);
        (await client.LoginAsync("previewer")).StatusCode.Should().Be(HttpStatusCode.Redirect);

        using var response = await client.Http.GetAsync(new Uri("/ws", UriKind.Relative));

        response.StatusCode.Should().Be(HttpStatusCode.OK);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        body.RootElement.GetProperty("user").GetString().Should().Be("previewer");
        body.RootElement.GetProperty("connections").GetInt32().Should().Be(0);
        body.RootElement.GetProperty("limit").GetInt32().Should().Be(5, "appsettings.json allows 5 connections per user");
    }

    [Fact]
    public async Task Connect_WithoutCookie_Refused401BeforeUpgrade()
    {
        using var client = ChatClient.For(BaseUri);
        using var socket = client.CreateSocket();

        var connect = () => socket.ConnectAsync(client.WebSocketUri, CancellationToken.None);

        await connect.Should().ThrowAsync<WebSocketException>();
        socket.HttpStatusCode.Should().Be(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Connect_CrossSiteOrigin_Refused403()
    {
        using var client = ChatClient.For(BaseUri);
        await client.LoginAsync("origin-check");
        using var foreign = client.CreateSocket(origin: "http://evil.example");
        using var own = client.CreateSocket(origin: BaseUri.GetLeftPart(UriPartial.Authority));

        var connect = () => foreign.ConnectAsync(client.WebSocketUri, CancellationToken.None);

        await connect.Should().ThrowAsync<WebSocketException>();
        foreign.HttpStatusCode.Should().Be(HttpStatusCode.Forbidden);
        await own.ConnectAsync(client.WebSocketUri, CancellationToken.None);
        own.State.Should().Be(WebSocketState.Open);
    }

    [Fact]
    public async Task Connect_SignedIn_HelloIsFirstWithUserConnectionCountAndLimit()
    {
        using var client = ChatClient.For(BaseUri);
        await client.LoginAsync("hello-user");

        using var first = await client.ConnectAsync();
        var hello = await ChatClient.ReceiveAsync(first);
        using var second = await client.ConnectAsync();
        var secondHello = await ChatClient.ReceiveAsync(second);

        hello.GetProperty("type").GetString().Should().Be("hello");
        hello.GetProperty("user").GetString().Should().Be("hello-user");
        hello.GetProperty("connectionId").GetString().Should().NotBeNullOrEmpty();
        hello.GetProperty("connections").GetInt32().Should().Be(1);
        hello.GetProperty("limit").GetInt32().Should().Be(5);
        secondHello.GetProperty("type").GetString().Should().Be("hello");
        secondHello.GetProperty("connections").GetInt32().Should().Be(2);
        secondHello.GetProperty("connectionId").GetString().Should().NotBe(hello.GetProperty("connectionId").GetString());
    }

    [Fact]
    public async Task Chat_Message_BroadcastToEveryoneIncludingSenderWithIsoTimestamp()
    {
        using var alice = ChatClient.For(BaseUri);
        using var bob = ChatClient.For(BaseUri);
        await alice.LoginAsync("chat-alice");
        await bob.LoginAsync("chat-bob");
        using var aliceSocket = await alice.ConnectAsync();
        using var bobSocket = await bob.ConnectAsync();
        await ChatClient.ReceiveAsync(aliceSocket, "hello");
        await ChatClient.ReceiveAsync(bobSocket, "hello");

        await ChatClient.SendAsync(aliceSocket, """{"type":"chat","text":"hi <all>"}""");

        foreach (var socket in new[] { aliceSocket, bobSocket })
        {
            var chat = await ChatClient.ReceiveAsync(socket, "chat");
            chat.GetProperty("from").GetString().Should().Be("chat-alice");
            chat.GetProperty("text").GetString().Should().Be("hi <all>");
            chat.GetProperty("at").GetString().Should().MatchRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$", "'at' is ISO-8601");
        }
    }

    [Fact]
    public async Task Dm_ToOnlineUser_ReachesAllOfRecipientsAndSendersConnections()
    {
        using var sender = ChatClient.For(BaseUri);
        using var recipient = ChatClient.For(BaseUri);
        await sender.LoginAsync("dm-sender");
        await recipient.LoginAsync("dm-recipient");
        using var senderFirst = await sender.ConnectAsync();
        using var senderSecond = await sender.ConnectAsync();
        using var recipientSocket = await recipient.ConnectAsync();
        foreach (var socket in new[] { senderFirst, senderSecond, recipientSocket })
        {
            await ChatClient.ReceiveAsync(socket, "hello");
        }

        await ChatClient.SendAsync(senderFirst, """{"type":"dm","to":"dm-recipient","text":"just us"}""");

        foreach (var socket in new[] { recipientSocket, senderFirst, senderSecond })
        {
            var dm = await ChatClient.ReceiveAsync(socket, "dm");
            dm.GetProperty("from").GetString().Should().Be("dm-sender");
            dm.GetProperty("to").GetString().Should().Be("dm-recipient");
            dm.GetProperty("text").GetString().Should().Be("just us");
            dm.GetProperty("at").GetString().Should().NotBeNullOrEmpty();
        }
    }

    [Fact]
    public async Task Messages_Invalid_AnsweredWithErrorCodesAndConnectionStaysOpen()
    {
        using var client = ChatClient.For(BaseUri);
        await client.LoginAsync("sloppy");
        using var socket = await client.ConnectAsync();
        await ChatClient.ReceiveAsync(socket, "hello");

        (string Sent, string Code)[] cases =
        [
            ("not json", "bad_json"),
            ("""{"type":"shout","text":"x"}""", "unknown_type"),
            ("""{"text":"no type"}""", "unknown_type"),
            ("""{"type":"chat","text":"   "}""", "empty_text"),
            ("""{"type":"chat"}""", "empty_text"),
            ($$"""{"type":"chat","text":"{{new string('x', 2001)}}"}""", "text_too_long"),
            ("""{"type":"dm","to":"nobody-online","text":"hi"}""", "unknown_user"),
            ("""{"type":"dm","to":"<bad name>","text":"hi"}""", "unknown_user"),
        ];
        foreach (var (sent, code) in cases)
        {
            await ChatClient.SendAsync(socket, sent);
            var error = await ChatClient.ReceiveAsync(socket, "error");
            error.GetProperty("code").GetString().Should().Be(code, sent);
            error.GetProperty("message").GetString().Should().NotBeNullOrWhiteSpace();
        }

        await socket.SendAsync(new byte[] { 1, 2, 3 }, WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None);
        (await ChatClient.ReceiveAsync(socket, "error")).GetProperty("code").GetString().Should().Be("bad_message");

        await ChatClient.SendAsync(socket, """{"type":"chat","text":"still here"}""");
        (await ChatClient.ReceiveAsync(socket, "chat")).GetProperty("text").GetString().Should().Be("still here");
        socket.State.Should().Be(WebSocketState.Open);
    }

    [Fact]
    public async Task Messages_FasterThanRateLimit_AnsweredWithRateLimitedErrorNotAClose()
    {
        using var client = ChatClient.For(BaseUri);
        await client.LoginAsync("chatterbox");
        using var socket = await client.ConnectAsync();
        await ChatClient.ReceiveAsync(socket, "hello");

        // appsettings.json allows 5 messages per second with a burst of 10: 40 at once must exceed it.
        for (var i = 0; i < 40; i++)
        {
            await ChatClient.SendAsync(socket, """{"type":"chat","text":"spam"}""");
        }

        var error = await ChatClient.ReceiveAsync(socket, "error");
        error.GetProperty("code").GetString().Should().Be("rate_limited");
        socket.State.Should().Be(WebSocketState.Open);
    }

    [Fact]
    public async Task Presence_OnConnect_FullListFirstThenOnlyDeltasToOthers()
    {
        using var watcher = ChatClient.For(BaseUri);
        using var visitor = ChatClient.For(BaseUri);
        await watcher.LoginAsync("presence-watcher");
        await visitor.LoginAsync("presence-visitor");
        using var watcherSocket = await watcher.ConnectAsync();
        (await ChatClient.ReceiveAsync(watcherSocket)).GetProperty("type").GetString().Should().Be("hello");

        // The first presence message of a connection is the full list, itself included.
        var full = await ChatClient.ReceiveAsync(watcherSocket);
        full.GetProperty("type").GetString().Should().Be("presence");
        Users(full).Should().Contain("presence-watcher", 1);

        using var visitorFirst = await visitor.ConnectAsync();
        await ChatClient.ReceiveAsync(visitorFirst, "hello");
        var visitorFull = await ChatClient.ReceiveAsync(visitorFirst);
        visitorFull.GetProperty("type").GetString().Should().Be("presence");
        Users(visitorFull).Should().Contain("presence-watcher", 1).And.Contain("presence-visitor", 1);
        using var visitorSecond = await visitor.ConnectAsync();
        await visitorSecond.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);

        // Everyone else gets only the changes, in the order they were made: 1, 2, then 1 again.
        (await NextDeltaForAsync(watcherSocket, "presence-visitor")).Should().Be(1);
        (await NextDeltaForAsync(watcherSocket, "presence-visitor")).Should().Be(2);
        (await NextDeltaForAsync(watcherSocket, "presence-visitor")).Should().Be(1);
        (await NextDeltaForAsync(visitorFirst, "presence-visitor")).Should().Be(2, "a user's own other connections are changes too");
        (await NextDeltaForAsync(visitorFirst, "presence-visitor")).Should().Be(1);

        // A user who leaves is a delta with 0 connections.
        await visitorFirst.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        (await NextDeltaForAsync(watcherSocket, "presence-visitor")).Should().Be(0);
    }

    [Fact]
    public async Task Logout_SignedIn_ClearsCookieAndClosesUsersSocketsWith4003()
    {
        using var client = ChatClient.For(BaseUri);
        await client.LoginAsync("leaver");
        using var first = await client.ConnectAsync();
        using var second = await client.ConnectAsync();
        await ChatClient.ReceiveAsync(first, "hello");
        await ChatClient.ReceiveAsync(second, "hello");

        using var response = await client.Http.PostAsync(new Uri("/logout", UriKind.Relative), content: null);

        response.IsSuccessStatusCode.Should().BeTrue();
        (await ChatClient.ReceiveCloseAsync(first)).Should().Be(4003);
        (await ChatClient.ReceiveCloseAsync(second)).Should().Be(4003);
        using var preview = await client.Http.GetAsync(new Uri("/ws", UriKind.Relative));
        preview.StatusCode.Should().Be(HttpStatusCode.Unauthorized, "the cookie was cleared");
    }

    [Fact]
    public async Task Logout_CookieCopiedBefore_CopyRefusedForUpgradeAndPreview()
    {
        // Arrange: someone copied the cookie while the user was signed in.
        using var owner = ChatClient.For(BaseUri);
        using var copy = ChatClient.For(BaseUri);
        (await owner.LoginAsync("copied-cookie")).StatusCode.Should().Be(HttpStatusCode.Redirect);
        copy.CopyCookiesFrom(owner);
        using (var before = await copy.PreviewAsync())
        {
            before.StatusCode.Should().Be(HttpStatusCode.OK, "the copy works while the session lives");
        }

        // Act
        using var logout = await owner.LogoutAsync();

        // Assert: the session is revoked on the server, not only forgotten by the owner's client.
        logout.StatusCode.Should().Be(HttpStatusCode.NoContent);
        using var preview = await copy.PreviewAsync();
        preview.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        preview.Content.Headers.ContentType?.MediaType.Should().Be(ProblemJson);
        (await copy.TryConnectStatusAsync()).Should().Be(401, "the copied cookie cannot open a socket either");

        // Signing in again gives a cookie that works, and the old copy stays dead.
        (await owner.LoginAsync("copied-cookie")).StatusCode.Should().Be(HttpStatusCode.Redirect);
        (await owner.TryConnectStatusAsync()).Should().Be(101);
        using var stillDead = await copy.PreviewAsync();
        stillDead.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
    }

    [Theory]
    [InlineData("Origin", "http://evil.example")]
    [InlineData("Sec-Fetch-Site", "cross-site")]
    [InlineData("Sec-Fetch-Site", "same-origin")]
    public async Task Login_BrowserProvenanceWithoutToken_Refused400WithoutCookie(string header, string value)
    {
        using var client = ChatClient.For(BaseUri);
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/login", UriKind.Relative))
        {
            Content = new FormUrlEncodedContent([new("name", "forged")]),
        };
        request.Headers.Add(header, value);

        using var response = await client.Http.SendAsync(request);

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        response.Content.Headers.ContentType?.MediaType.Should().Be(ProblemJson);
        response.Headers.Contains("Set-Cookie").Should().BeFalse("nobody is signed in");
    }

    [Fact]
    public async Task Logout_BrowserProvenanceWithoutToken_Refused400AndStaysSignedIn()
    {
        using var client = ChatClient.For(BaseUri);
        await client.LoginAsync("forged-logout");
        using var socket = await client.ConnectAsync();
        await ChatClient.ReceiveAsync(socket, "hello");
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/logout", UriKind.Relative));
        request.Headers.Add("Origin", "http://evil.example");
        request.Headers.Add("Sec-Fetch-Site", "cross-site");

        using var response = await client.Http.SendAsync(request);

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        response.Content.Headers.ContentType?.MediaType.Should().Be(ProblemJson);
        using var preview = await client.PreviewAsync();
        preview.StatusCode.Should().Be(HttpStatusCode.OK, "the user is still signed in");
        await ChatClient.SendAsync(socket, """{"type":"chat","text":"still here"}""");
        (await ChatClient.ReceiveAsync(socket, "chat")).GetProperty("text").GetString().Should().Be("still here");
    }

    [Fact]
    public async Task LoginAndLogout_BrowserProvenanceWithToken_Succeed()
    {
        using var client = ChatClient.For(BaseUri);
        var origin = BaseUri.GetLeftPart(UriPartial.Authority);

        var (header, token) = await client.GetAntiforgeryTokenAsync();
        using var login = new HttpRequestMessage(HttpMethod.Post, new Uri("/login", UriKind.Relative))
        {
            Content = new FormUrlEncodedContent([new("name", "token-holder")]),
        };
        login.Headers.Add("Origin", origin);
        login.Headers.Add("Sec-Fetch-Site", "same-origin");
        login.Headers.Add(header, token);
        using var loggedIn = await client.Http.SendAsync(login);

        // The token is bound to who is signed in: a new one for the sign-out.
        (header, token) = await client.GetAntiforgeryTokenAsync();
        using var logout = new HttpRequestMessage(HttpMethod.Post, new Uri("/logout", UriKind.Relative));
        logout.Headers.Add("Origin", origin);
        logout.Headers.Add(header, token);
        using var loggedOut = await client.Http.SendAsync(logout);

        header.Should().Be("X-CSRF-TOKEN");
        loggedIn.StatusCode.Should().Be(HttpStatusCode.Redirect);
        loggedOut.StatusCode.Should().Be(HttpStatusCode.NoContent);
        using var preview = await client.PreviewAsync();
        preview.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
    }

    public static TheoryData<string, string, int> MalformedBodies => new()
    {
        { "text/plain", "name=plain", 0 },
        { "application/json", """{"name":"json"}""", 0 },
        { "multipart/form-data", "no boundary", 0 },
        { "multipart/form-data; boundary=xyz", "--xyz\r\nbroken", 0 },
        { "multipart/form-data; boundary=xyz", "not multipart at all", 0 },
        { "application/x-www-form-urlencoded", "name=", 100_000 },
        { "application/x-www-form-urlencoded; charset=no-such-charset", "name=%E0%A4%A", 0 },
        { "application/x-www-form-urlencoded", "name=%FF%FE%00", 0 },
        { "application/x-www-form-urlencoded", "=&=&&==name", 0 },
    };

    [Theory]
    [MemberData(nameof(MalformedBodies))]
    public async Task Login_MalformedBody_Returns400ProblemNot500(string contentType, string body, int padding)
    {
        using var client = ChatClient.For(BaseUri);
        var bytes = System.Text.Encoding.UTF8.GetBytes(body + new string('a', padding));
        using var content = new ByteArrayContent(bytes);
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);

        using var response = await client.Http.PostAsync(new Uri("/login", UriKind.Relative), content);

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest, await response.Content.ReadAsStringAsync());
        response.Content.Headers.ContentType?.MediaType.Should().Be(ProblemJson);
        response.Headers.Contains("Set-Cookie").Should().BeFalse();
    }

    [Fact]
    public async Task Stats_FromLoopback_ReturnsCamelCaseSnapshot()
    {
        using var client = ChatClient.For(BaseUri);
        await client.LoginAsync("stats-user");
        using var socket = await client.ConnectAsync();
        await ChatClient.ReceiveAsync(socket, "hello");

        using var response = await client.Http.GetAsync(new Uri("/stats?top=1000000", UriKind.Relative));

        response.StatusCode.Should().Be(HttpStatusCode.OK);
        using var stats = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = stats.RootElement;
        foreach (var key in new[] { "activeConnections", "maxConnections", "userCount", "draining", "users", "rejected", "evicted", "pooledManagers" })
        {
            root.TryGetProperty(key, out _).Should().BeTrue($"the snapshot has '{key}'");
        }

        root.GetProperty("maxConnections").GetInt32().Should().Be(1000);
        root.GetProperty("draining").GetBoolean().Should().BeFalse();
        root.GetProperty("rejected").TryGetProperty("user_limit", out _).Should().BeTrue();
        var me = root.GetProperty("users").EnumerateArray().Single(u => u.GetProperty("user").GetString() == "stats-user");
        me.GetProperty("connections").GetInt32().Should().Be(1);
        me.GetProperty("limit").GetInt32().Should().Be(5);
    }

    [Fact]
    public async Task Health_FromLoopback_ReturnsHealthyWord()
    {
        using var client = ChatClient.For(BaseUri);

        using var response = await client.Http.GetAsync(new Uri("/health", UriKind.Relative));

        response.StatusCode.Should().Be(HttpStatusCode.OK);
        (await response.Content.ReadAsStringAsync()).Should().Be("Healthy");
    }

    [Fact]
    public async Task Root_StartedFromAnotherDirectory_ServesChatPageWithSecurityHeaders()
    {
        using var client = ChatClient.For(BaseUri);

        using var page = await client.Http.GetAsync(new Uri("/", UriKind.Relative));
        using var script = await client.Http.GetAsync(new Uri("/app.js", UriKind.Relative));

        page.StatusCode.Should().Be(HttpStatusCode.OK);
        page.Content.Headers.ContentType?.MediaType.Should().Be("text/html");
        (await page.Content.ReadAsStringAsync()).Should().Contain("<title>WebSocketPool chat</title>");
        page.Headers.GetValues("Content-Security-Policy").Single().Should().Contain("default-src 'self'");
        page.Headers.GetValues("X-Content-Type-Options").Single().Should().Be("nosniff");
        script.StatusCode.Should().Be(HttpStatusCode.OK);
    }

    private static Dictionary<string, int> Users(JsonElement presence) =>
        presence.GetProperty("users").EnumerateArray().ToDictionary(u => u.GetProperty("name").GetString()!, u => u.GetProperty("connections").GetInt32());

    /// <summary>
    /// Reads until a presence message about <paramref name="user"/>; it must be a delta (never a full list after the
    /// first) listing one user. Returns that user's new connection count.
    /// </summary>
    private static async Task<int> NextDeltaForAsync(ClientWebSocket socket, string user)
    {
        for (var i = 0; i < 100; i++)
        {
            var message = await ChatClient.ReceiveAsync(socket);
            var type = message.GetProperty("type").GetString();
            if (type is not ("presence" or "presence_delta"))
            {
                continue;
            }

            type.Should().Be("presence_delta", "after the first full list a connection gets only changes");
            var users = Users(message);
            users.Should().HaveCount(1, "one join or leave changes one user");
            if (users.TryGetValue(user, out var connections))
            {
                return connections;
            }
        }

        throw new InvalidOperationException($"No presence change for '{user}' among the next 100 messages.");
    }
}

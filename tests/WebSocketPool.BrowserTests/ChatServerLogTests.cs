// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using System.Net.WebSockets;
using WebSocketPool.BrowserTests.Infrastructure;

namespace WebSocketPool.BrowserTests;

/// <summary>
/// The ChatServer's logs never carry a user key (a login name, which may be personal data) above Debug. The server runs
/// with its shipped settings, every category raised to Information, and goes through a user's whole life: sign-in,
/// sockets, chat, direct messages, refusals, sign-out.
/// </summary>
public sealed class ChatServerLogTests
{
    [Fact]
    public async Task Logs_AtInformation_NeverContainTheLoginName()
    {
        // Arrange
        const string Name = "zq-Log.Probe_7";
        await using var server = await ServerProcess.StartAsync(SampleServers.ChatServer(
            "--Serilog:MinimumLevel:Default=Information",
            "--Serilog:MinimumLevel:Override:Microsoft.AspNetCore=Information",
            "--Serilog:MinimumLevel:Override:WebSocketPool=Information"));
        using var client = ChatClient.For(server.BaseUri);
        using var copy = ChatClient.For(server.BaseUri);

        // Act
        (await client.LoginAsync(Name)).StatusCode.Should().Be(HttpStatusCode.Redirect);
        copy.CopyCookiesFrom(client);
        using (var socket = await client.ConnectAsync())
        {
            await ChatClient.ReceiveAsync(socket, "hello");
            await ChatClient.SendAsync(socket, """{"type":"chat","text":"hi"}""");
            await ChatClient.ReceiveAsync(socket, "chat");
            await ChatClient.SendAsync(socket, $$"""{"type":"dm","to":"{{Name}}","text":"me"}""");
            await ChatClient.ReceiveAsync(socket, "dm");
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        }

        using var kept = await client.ConnectAsync();
        await ChatClient.ReceiveAsync(kept, "hello");
        using var forged = new HttpRequestMessage(HttpMethod.Post, new Uri("/login", UriKind.Relative))
        {
            Content = new FormUrlEncodedContent([new("name", Name)]),
        };
        forged.Headers.Add("Origin", "http://evil.example");
        (await client.Http.SendAsync(forged)).StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await client.LogoutAsync()).StatusCode.Should().Be(HttpStatusCode.NoContent);
        (await ChatClient.ReceiveCloseAsync(kept)).Should().Be(4003);
        (await copy.PreviewAsync()).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        (await copy.TryConnectStatusAsync()).Should().Be(401);

        // The last request's log line is written once it has been answered.
        await Conditions.PollAsync(
            () => server.Output.Split('\n').Count(line => line.Contains("GET /ws responded 401", StringComparison.Ordinal)) >= 2,
            TimeSpan.FromSeconds(20),
            "the refused preview and upgrade of the copied cookie are logged");

        // Assert
        var output = server.Output;
        output.Should().Contain("POST /login responded 302", "the log is at Information: request lines are written");
        output.Should().NotContainEquivalentOf(Name);
    }
}

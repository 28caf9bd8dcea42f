// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Globalization;
using System.Net.WebSockets;
using System.Text;

namespace WebSocketPool.IntegrationTests.Resumption;

/// <summary>
/// A test's own reading of the resume protocol (docs/resume-protocol.md), written from the document rather than from the
/// server's code: it reads the session frame and the numbered messages, and sends acks and app messages with their
/// headers.
/// </summary>
internal static class ResumeTestClient
{
    public const string Protocol = "websocketpool.resume.v1";

    /// <summary>A received frame: a session frame (token and last) or a numbered message.</summary>
    public sealed record Frame(char Kind, string? Token, long Number, WebSocketMessageType Type, string Payload);

    public static async Task<Frame> ReceiveAsync(WebSocket socket, CancellationToken cancellationToken)
    {
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        WebSocketReceiveResult result;
        do
        {
            result = await socket.ReceiveAsync(buffer, cancellationToken);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                // Answer the close, as a browser does, so the server's closing handshake completes.
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, cancellationToken);
                throw new WebSocketException($"Closed with {(int?)socket.CloseStatus}.");
            }

            message.Write(buffer, 0, result.Count);
        }
        while (!result.EndOfMessage);

        var bytes = message.ToArray();
        var end = Array.IndexOf(bytes, (byte)'\n');
        end.Should().BeGreaterThan(0, "every frame of the resume protocol starts with a header line");
        var header = Encoding.ASCII.GetString(bytes, 0, end).Split(' ');
        var payload = Encoding.UTF8.GetString(bytes, end + 1, bytes.Length - end - 1);
        return header[0] switch
        {
            "s" => new Frame('s', header[1], long.Parse(header[2], CultureInfo.InvariantCulture), result.MessageType, payload),
            "m" => new Frame('m', null, long.Parse(header[1], CultureInfo.InvariantCulture), result.MessageType, payload),
            _ => throw new InvalidOperationException($"Unknown frame header '{header[0]}'."),
        };
    }

    public static Task AckAsync(WebSocket socket, long sequence, CancellationToken cancellationToken) =>
        socket.SendAsync(Encoding.ASCII.GetBytes("a " + sequence.ToString(CultureInfo.InvariantCulture) + "\n"), WebSocketMessageType.Text, true, cancellationToken);

    public static Task SendAsync(WebSocket socket, string text, CancellationToken cancellationToken) =>
        socket.SendAsync(Encoding.UTF8.GetBytes("m\n" + text), WebSocketMessageType.Text, true, cancellationToken);
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using WebSocketPool;
using WebSocketPool.Samples;

namespace EchoServer;

/// <summary>
/// DEMO ONLY: routes that push a text message through <see cref="IWebSocketSender"/>, so that tests and load runs can
/// drive fan-out from outside the process. <c>POST /broadcast?text=…</c> sends to every connection,
/// <c>POST /group/{name}/send?text=…</c> to the members of a group (connections join one with <c>/ws?group=NAME</c>).
/// Both answer <c>{"queued":n}</c> (the connections on this node the message was queued for) once it is queued, 400
/// without <c>text</c>, and, like <c>/stats</c>, only loopback callers unless <c>Diagnostics:AllowRemote</c> is true.
/// </summary>
internal static class DiagnosticSendEndpoints
{
    public static void MapDiagnosticSends(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPost("/broadcast", static async (string? text, IWebSocketSender sender, CancellationToken cancellationToken) =>
            string.IsNullOrEmpty(text)
                ? Results.Problem("The query parameter 'text' is required.", statusCode: StatusCodes.Status400BadRequest)
                : Results.Ok(new { queued = await sender.SendTextToAllAsync(text, cancellationToken).ConfigureAwait(false) }))
            .RequireLoopbackUnlessConfigured();

        endpoints.MapPost("/group/{name}/send", static async (string name, string? text, IWebSocketSender sender, CancellationToken cancellationToken) =>
            string.IsNullOrEmpty(text)
                ? Results.Problem("The query parameter 'text' is required.", statusCode: StatusCodes.Status400BadRequest)
                : Results.Ok(new { queued = await sender.SendTextToGroupAsync(name, text, cancellationToken).ConfigureAwait(false) }))
            .RequireLoopbackUnlessConfigured();
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Globalization;
using System.Net.WebSockets;

namespace WebSocketPool.IntegrationTests.Resumption;

/// <summary>
/// One resumable client as the protocol document describes it: it keeps the latest token and the last sequence it
/// received, acknowledges every 32 messages, and reconnects with both in the query string. It records every app message
/// it receives, across sockets, so a test can check exactly-once delivery in order.
/// </summary>
internal sealed class ResumingClient(LoopbackTcpProxy proxy, string user, string offer) : IDisposable
{
    private const int AckEvery = 32;
    private readonly List<string> _received = [];
    private ClientWebSocket? _socket;
    private Task? _reading;
    private long _acknowledged;

    public string User { get; } = user;

    public string? Token { get; private set; }

    public long Last { get; private set; }

    /// <summary>Gets the close status of the last socket, once it has ended with one.</summary>
    public int? CloseStatus { get; private set; }

    /// <summary>Gets a description of the first frame out of order, if any.</summary>
    public string? Violation { get; private set; }

    public int Count
    {
        get
        {
            lock (_received)
            {
                return _received.Count;
            }
        }
    }

    public IReadOnlyList<string> Received
    {
        get
        {
            lock (_received)
            {
                return [.. _received];
            }
        }
    }

    /// <summary>Opens a socket, fresh or (with <paramref name="resume"/>) presenting the token and last sequence.</summary>
    /// <param name="resume">Whether to present the token and last sequence.</param>
    /// <param name="cancellationToken">The test's deadline.</param>
    /// <param name="asUser">Another user to connect as, with this client's token.</param>
    /// <param name="keepOld">Leave the previous socket open, as a half-open connection the server has not noticed.</param>
    public async Task ConnectAsync(bool resume, CancellationToken cancellationToken, string? asUser = null, bool keepOld = false)
    {
        if (!keepOld)
        {
            _socket?.Dispose();
        }

        var previous = _reading;
        var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        socket.Options.AddSubProtocol(offer);
        var query = "user=" + Uri.EscapeDataString(asUser ?? User);
        if (resume)
        {
            query += "&ws-resume-token=" + Uri.EscapeDataString(Token!) + "&ws-resume-last=" + Last.ToString(CultureInfo.InvariantCulture);
        }

        await socket.ConnectAsync(proxy.WebSocketUri(query), cancellationToken);
        _socket = socket;
        CloseStatus = null;
        var session = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _reading = ReadAsync(socket, session, cancellationToken);
        Previous = previous;
        await Task.WhenAny(session.Task, _reading);
    }

    /// <summary>Gets the reading of the socket before the current one.</summary>
    public Task? Previous { get; private set; }

    /// <summary>Waits until the current socket has ended (a cut, or a close from the server).</summary>
    public Task EndedAsync() => _reading ?? Task.CompletedTask;

    public void Dispose() => _socket?.Dispose();

    private async Task ReadAsync(ClientWebSocket socket, TaskCompletionSource session, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                var frame = await ResumeTestClient.ReceiveAsync(socket, cancellationToken);
                if (frame.Kind == 's')
                {
                    Token = frame.Token;
                    session.TrySetResult();
                    continue;
                }

                if (frame.Number != Last + 1)
                {
                    Violation ??= $"{User}: message {frame.Number} after {Last}";
                }

                Last = frame.Number;
                lock (_received)
                {
                    _received.Add(frame.Payload);
                }

                if (Last - _acknowledged >= AckEvery)
                {
                    _acknowledged = Last;
                    await ResumeTestClient.AckAsync(socket, Last, cancellationToken);
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException)
        {
            CloseStatus = (int?)socket.CloseStatus;
            _acknowledged = Math.Min(_acknowledged, Last);
        }
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;

namespace LoadHarness.Server.Bare;

/// <summary>
/// What a hand-written server must keep per socket to send to it from elsewhere: the socket, its user and a lock,
/// because a <see cref="WebSocket"/> allows one send at a time.
/// </summary>
internal sealed class BareConnection(WebSocket socket, string user)
{
    public WebSocket Socket { get; } = socket;

    public string User { get; } = user;

    public SemaphoreSlim SendLock { get; } = new(1, 1);

    public async ValueTask<bool> SendAsync(ReadOnlyMemory<byte> payload, WebSocketMessageType type, CancellationToken cancellationToken)
    {
        await SendLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Socket.State != WebSocketState.Open)
            {
                return false;
            }

            await Socket.SendAsync(payload, type, endOfMessage: true, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or ObjectDisposedException or OperationCanceledException)
        {
            return false;
        }
        finally
        {
            SendLock.Release();
        }
    }
}

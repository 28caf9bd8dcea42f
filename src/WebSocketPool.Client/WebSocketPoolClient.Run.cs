// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Globalization;
using WebSocketPool.Client.Internal;

namespace WebSocketPool.Client;

/// <summary>The connection loop: preview, handshake, run, and then the close-code table decides what comes next.</summary>
public sealed partial class WebSocketPoolClient
{
    private async Task RunAsync(CancellationToken stop)
    {
        WebSocketPoolClosedEventArgs closed;
        var failures = 0;
        var everConnected = false;
        try
        {
            while (true)
            {
                var failure = await AttemptAsync(failures, everConnected, stop).ConfigureAwait(false);
                if (failure.Closed is { } end)
                {
                    closed = end;
                    break;
                }

                if (failure.Connected)
                {
                    everConnected = true;
                    failures = 0;
                }

                failures++;
                if (_maxReconnectAttempts is { } max && failures > max)
                {
                    closed = new WebSocketPoolClosedEventArgs(failure.CloseStatus, failure.Refusal?.StatusCode,
                        $"gave up after {max.ToString(CultureInfo.InvariantCulture)} reconnect attempts (MaxReconnectAttempts); last: {failure.Reason}",
                        failure.CloseClass, failure.Error);
                    break;
                }

                var delay = ReconnectDelay.Compute(failure.CloseClass, failures, failure.Refusal?.RetryAfter, _delays, _random.NextDouble());
                SetState(everConnected ? WebSocketPoolClientState.Reconnecting : WebSocketPoolClientState.Connecting);
                ClientLog.Reconnecting(_logger, failures, _address, (long)delay.TotalMilliseconds, failure.CloseClass, failure.Reason);

                // The wait starts before the event, so that a handler (or a test's clock) that moves time on is counted.
                var wait = Task.Delay(delay, _time, stop);
                Raise(Reconnecting, new WebSocketPoolReconnectingEventArgs(failures, delay, failure.CloseClass, failure.CloseStatus, failure.Refusal?.StatusCode, failure.Reason));
                await wait.ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            closed = Stopped();
        }
        catch (Exception ex)
        {
            // Nothing above is expected to throw anything else; if it does, the client closes rather than hangs.
            closed = new WebSocketPoolClosedEventArgs(null, null, "the client failed: " + ex.Message, WebSocketPoolCloseClass.Terminal, ex);
        }

        await CloseAsync(closed).ConfigureAwait(false);
    }

    /// <summary>One attempt: the preview (if on), the handshake, and the connection's whole run if it opened.</summary>
    private async Task<AttemptResult> AttemptAsync(int failures, bool everConnected, CancellationToken stop)
    {
        if (_preview is not null)
        {
            Refusal? previewRefusal;
            try
            {
                previewRefusal = await _preview.AskAsync(stop).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException || (ex is OperationCanceledException && !stop.IsCancellationRequested))
            {
                ClientLog.AttemptFailed(_logger, _address, ex.Message);
                return AttemptResult.Failed("the preview could not reach the server: " + ex.Message, ex);
            }

            if (previewRefusal is not null)
            {
                return OnRefused(previewRefusal, null);
            }
        }

        var presented = _settings.Resume?.HasSession ?? false;
        var attempt = await Connector.ConnectAsync(_settings, _sendQueue, _received.Writer, _time, stop).ConfigureAwait(false);
        if (attempt.Refusal is { } refusal)
        {
            return OnRefused(refusal, attempt.Error);
        }

        if (attempt.Connection is not { } connection)
        {
            ClientLog.AttemptFailed(_logger, _address, attempt.Error?.Message ?? string.Empty);
            return AttemptResult.Failed("the handshake failed: " + attempt.Error?.Message, attempt.Error);
        }

        ConnectionEnd end;
        using (connection)
        {
            // Under the resume protocol the connection is open once the session frame says which session it is; a 4004
            // comes instead of it.
            if (await connection.OpenSessionAsync(presented, stop).ConfigureAwait(false) is { } refused)
            {
                return Ended(refused, stop);
            }

            SetState(WebSocketPoolClientState.Connected);
            if (everConnected || failures > 0)
            {
                ClientLog.Reconnected(_logger, _address, failures);
            }
            else
            {
                ClientLog.Connected(_logger, _address);
            }

            _connected.TrySetResult();
            if (everConnected || failures > 0)
            {
                Raise(Reconnected, new WebSocketPoolReconnectedEventArgs(Math.Max(failures, 1), connection.SubProtocol) { Resumed = connection.IsFramed && presented });
            }

            end = await connection.RunAsync(stop).ConfigureAwait(false);
        }

        return Ended(end, stop);
    }

    private AttemptResult Ended(ConnectionEnd end, CancellationToken stop)
    {
        _settings.Resume?.Ended(end.CloseStatus);
        if (end.ByApplication || stop.IsCancellationRequested)
        {
            return AttemptResult.End(Stopped());
        }

        var closeClass = ClosePolicy.ClassifyClose(end.CloseStatus);
        var reason = end.CloseStatus is { } code
            ? $"closed with {code.ToString(CultureInfo.InvariantCulture)}" + (end.Description.Length > 0 ? ": " + end.Description : string.Empty)
            : end.Description;
        if (closeClass == WebSocketPoolCloseClass.Terminal)
        {
            var description = end.CloseStatus == 1000 && end.Description.Length == 0 ? "the server ended the session (1000)" : reason;
            return AttemptResult.End(new WebSocketPoolClosedEventArgs(end.CloseStatus, null, description, closeClass, end.Error));
        }

        return new AttemptResult(null, true, closeClass, end.CloseStatus, null, reason, end.Error);
    }

    private AttemptResult OnRefused(Refusal refusal, Exception? error)
    {
        ClientLog.Refused(_logger, _address, refusal.StatusCode, refusal.Reason, refusal.RetryAfter);
        Raise(Refused, new WebSocketPoolRefusedEventArgs(refusal.StatusCode, refusal.Reason, refusal.Limit, refusal.Current, refusal.RetryAfter,
            refusal.Detail, refusal.CloseClass, refusal.FromPreview));
        if (refusal.CloseClass == WebSocketPoolCloseClass.Terminal)
        {
            return AttemptResult.End(new WebSocketPoolClosedEventArgs(null, refusal.StatusCode, refusal.Describe(), WebSocketPoolCloseClass.Terminal, error));
        }

        return new AttemptResult(null, false, refusal.CloseClass, null, refusal, refusal.Describe(), error);
    }

    private static WebSocketPoolClosedEventArgs Stopped() =>
        new(1000, null, "stopped by the application", WebSocketPoolCloseClass.Terminal, null) { ByApplication = true };

    /// <summary>Closes for good, once: the queues end, <see cref="StartAsync"/> learns why, <see cref="Closed"/> is raised.</summary>
    private Task CloseAsync(WebSocketPoolClosedEventArgs closed)
    {
        SetState(WebSocketPoolClientState.Closed);
        var dropped = _sendQueue.Complete();
        if (dropped > 0)
        {
            ClientLog.SendsDropped(_logger, dropped);
        }

        _received.Writer.TryComplete();
        ClientLog.Closed(_logger, _address, closed.CloseClass, closed.Description, closed.Exception);
        _connected.TrySetException(new InvalidOperationException($"The client closed before it connected: {closed.Description}.", closed.Exception));

        // Observed here so that a client nobody started, or whose start was not awaited, leaves no unobserved exception.
        _ = _connected.Task.Exception;

        // Closed before the event, so that a handler may dispose the client without waiting for itself.
        _closed.TrySetResult();
        Raise(Closed, closed);
        return Task.CompletedTask;
    }

    private void SetState(WebSocketPoolClientState state)
    {
        lock (_lock)
        {
            if (_state != WebSocketPoolClientState.Closed)
            {
                _state = state;
            }
        }
    }

    private void Raise<TArgs>(EventHandler<TArgs>? handler, TArgs args)
    {
        if (handler is null)
        {
            return;
        }

        try
        {
            handler(this, args);
        }
        catch (Exception ex)
        {
            ClientLog.EventHandlerFailed(_logger, typeof(TArgs).Name, ex);
        }
    }

    /// <summary>What one attempt came to: closed for good, or a failure to retry (after a connection, or without one).</summary>
    private readonly record struct AttemptResult(
        WebSocketPoolClosedEventArgs? Closed, bool Connected, WebSocketPoolCloseClass CloseClass, int? CloseStatus, Refusal? Refusal, string Reason, Exception? Error)
    {
        public static AttemptResult End(WebSocketPoolClosedEventArgs closed) => new(closed, false, WebSocketPoolCloseClass.Terminal, null, null, string.Empty, null);

        public static AttemptResult Failed(string reason, Exception? error) => new(null, false, WebSocketPoolCloseClass.Backoff, null, null, reason, error);
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using WebSocketPool.Client.Internal;

namespace WebSocketPool.Client;

/// <summary>
/// A WebSocket client for WebSocketPool servers over <see cref="ClientWebSocket"/>. It reads refusals (status, reason,
/// <c>Retry-After</c>) and close codes, and acts on each as the pool's close-code table says: it stops for good on a
/// terminal one (eviction 4001, kick 4003, 1000 from the server, 401/403, ...), reconnects with exponential backoff and
/// full jitter on a backoff one (1006, 1011, 4002, 429, 503, ...; never sooner than <c>Retry-After</c>) and after a short
/// jittered delay on a prompt one (1001, 1012, 4004). Sends are queued within a bound and written by one writer, so
/// <see cref="SendAsync(ReadOnlyMemory{byte}, WebSocketMessageType, CancellationToken)"/> never waits for the network;
/// messages arrive through <see cref="ReadAllAsync"/>.
/// </summary>
/// <remarks>
/// Like <see cref="ClientWebSocket"/>, a client runs one session: once <see cref="State"/> is
/// <see cref="WebSocketPoolClientState.Closed"/>, create a new client to connect again. Event handlers run on the
/// client's connection loop: keep them short; an exception from one is logged and ignored. One
/// <see cref="DisposeAsync"/> ends everything and may be called any number of times.
/// </remarks>
public sealed partial class WebSocketPoolClient : IAsyncDisposable
{
    private readonly ConnectionSettings _settings;
    private readonly ReconnectSettings _delays;
    private readonly int? _maxReconnectAttempts;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Random _random;
    private readonly string _address;
    private readonly SendQueue _sendQueue;
    private readonly Channel<WebSocketPoolClientMessage> _received;
    private readonly AdmissionPreview? _preview;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _lock = new();
    private WebSocketPoolClientState _state;
    private Task? _run;
    private int _disposed;

    /// <summary>Initializes a new instance of the <see cref="WebSocketPoolClient"/> class.</summary>
    /// <param name="options">The settings, validated and copied here.</param>
    /// <param name="logger">The logger; none when <see langword="null"/>.</param>
    /// <param name="timeProvider">The clock for every wait (reconnect delays, timeouts); <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    /// <param name="random">The source of jitter; <see cref="Random.Shared"/> when <see langword="null"/>.</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is <see langword="null"/>.</exception>
    /// <exception cref="OptionsValidationException">An option is out of range; the message names it.</exception>
    public WebSocketPoolClient(WebSocketPoolClientOptions options, ILogger<WebSocketPoolClient>? logger = null, TimeProvider? timeProvider = null, Random? random = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var validation = WebSocketPoolClientOptionsValidator.Instance.Validate(Options.DefaultName, options);
        if (validation.Failed)
        {
            throw new OptionsValidationException(Options.DefaultName, typeof(WebSocketPoolClientOptions), validation.Failures);
        }

        var headers = new Dictionary<string, string>(options.Headers, StringComparer.OrdinalIgnoreCase);
        _settings = new ConnectionSettings(options.Uri!, [.. options.SubProtocols], headers, options.Cookies, options.Credentials,
            options.ConfigureWebSocket, options.KeepAliveInterval, options.KeepAliveTimeout, options.ConnectTimeout, options.CloseTimeout,
            options.MaxReceiveMessageBytes, options.Resume ? new ResumeState() : null);
        _delays = new ReconnectSettings(options.ReconnectBaseDelay, options.ReconnectMaxDelay, options.PromptReconnectMaxDelay);
        _maxReconnectAttempts = options.MaxReconnectAttempts;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
        _random = random ?? Random.Shared;
        _address = options.Uri!.GetLeftPart(UriPartial.Path);
        _sendQueue = new SendQueue(options.SendQueueCapacity, options.SendQueueMaxBytes);
        _received = Channel.CreateBounded<WebSocketPoolClientMessage>(new BoundedChannelOptions(options.ReceiveQueueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleWriter = true,
        });
        if (options.Preview)
        {
            _preview = new AdmissionPreview(_settings.Uri, headers, options.Cookies, options.Credentials, options.ConnectTimeout, _time);
        }
    }

    /// <summary>Raised before each reconnect attempt, with the attempt, the computed delay and why.</summary>
    public event EventHandler<WebSocketPoolReconnectingEventArgs>? Reconnecting;

    /// <summary>Raised when the client is connected again after a lost connection or a refusal.</summary>
    public event EventHandler<WebSocketPoolReconnectedEventArgs>? Reconnected;

    /// <summary>Raised when the server refuses an attempt before the upgrade (by the preview or the handshake).</summary>
    public event EventHandler<WebSocketPoolRefusedEventArgs>? Refused;

    /// <summary>Raised once, when the client closes for good.</summary>
    public event EventHandler<WebSocketPoolClosedEventArgs>? Closed;

    /// <summary>Gets where the client is in its life.</summary>
    public WebSocketPoolClientState State
    {
        get
        {
            lock (_lock)
            {
                return _state;
            }
        }
    }

    /// <summary>Gets the number of messages waiting to be sent.</summary>
    public int QueuedSendCount => _sendQueue.Count;

    /// <summary>Gets the number of received messages waiting for <see cref="ReadAllAsync"/>.</summary>
    internal int ReceivedWaitingCount => _received.Reader.Count;

    /// <summary>
    /// Starts the client and completes once it is connected. Attempts refused or failed on the way are retried as the
    /// close-code table says (raising <see cref="Reconnecting"/>), so a server that answers 429 with <c>Retry-After</c>
    /// is waited for.
    /// </summary>
    /// <param name="cancellationToken">Cancels the start; the client then closes.</param>
    /// <exception cref="InvalidOperationException">The client was started before, or it closed before it could connect (a terminal refusal or close, or attempts used up; <see cref="Closed"/> says why).</exception>
    /// <exception cref="ObjectDisposedException">The client was disposed.</exception>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        lock (_lock)
        {
            if (_state != WebSocketPoolClientState.Created)
            {
                throw new InvalidOperationException($"The client was started already (it is {_state}); a client runs one session, so create a new one to connect again.");
            }

            _state = WebSocketPoolClientState.Connecting;
            _run = Task.Run(() => RunAsync(_stop.Token), CancellationToken.None);
        }

        try
        {
            await _connected.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await StopAsync(CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Stops the client: writes what is queued and makes the closing handshake (1000) within
    /// <see cref="WebSocketPoolClientOptions.CloseTimeout"/>, then closes for good. Calling it again, or on a client that
    /// never started, is harmless.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting (the client still closes).</param>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (_closed.Task.IsCompleted)
        {
            return;
        }

        Task? run;
        lock (_lock)
        {
            run = _run;
            if (run is null && _state == WebSocketPoolClientState.Created)
            {
                _state = WebSocketPoolClientState.Closed;
                run = Task.Run(() => CloseAsync(new WebSocketPoolClosedEventArgs(1000, null, "stopped before it started", WebSocketPoolCloseClass.Terminal, null) { ByApplication = true }), CancellationToken.None);
                _run = run;
            }
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        await run!.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Queues a message for the server and returns at once: it never waits for the network. Messages queued while the
    /// client reconnects are written on the next connection, in order; a message whose write fails with a connection is
    /// lost (it may or may not have arrived).
    /// </summary>
    /// <param name="payload">The payload, copied before this returns.</param>
    /// <param name="messageType">Text (UTF-8) or binary.</param>
    /// <param name="cancellationToken">Not waited on: the message is queued or refused at once.</param>
    /// <exception cref="WebSocketPoolSendQueueFullException">The queue holds <see cref="WebSocketPoolClientOptions.SendQueueCapacity"/> messages or <see cref="WebSocketPoolClientOptions.SendQueueMaxBytes"/> bytes.</exception>
    /// <exception cref="InvalidOperationException">The client was not started, or has closed.</exception>
    /// <exception cref="ObjectDisposedException">The client was disposed.</exception>
    public ValueTask SendAsync(ReadOnlyMemory<byte> payload, WebSocketMessageType messageType, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (messageType is not (WebSocketMessageType.Text or WebSocketMessageType.Binary))
        {
            throw new ArgumentOutOfRangeException(nameof(messageType), messageType, "Send text or binary; the client makes the closing handshake itself (StopAsync).");
        }

        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }

        var state = State;
        if (state is WebSocketPoolClientState.Created or WebSocketPoolClientState.Closed)
        {
            throw new InvalidOperationException(state == WebSocketPoolClientState.Created
                ? "Start the client (StartAsync) before sending."
                : "The client has closed; create a new one to connect again.");
        }

        _sendQueue.Enqueue(payload, messageType);
        return ValueTask.CompletedTask;
    }

    /// <summary>Queues a text message (UTF-8); see <see cref="SendAsync(ReadOnlyMemory{byte}, WebSocketMessageType, CancellationToken)"/>.</summary>
    /// <param name="text">The text.</param>
    /// <param name="cancellationToken">Not waited on: the message is queued or refused at once.</param>
    public ValueTask SendTextAsync(string text, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(text);
        return SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, cancellationToken);
    }

    /// <summary>
    /// Reads the messages from the server as they arrive, across reconnects, until the client closes (then the
    /// enumeration ends after the last message received). Each message owns its payload: it is yours to keep. Read
    /// promptly: when <see cref="WebSocketPoolClientOptions.ReceiveQueueCapacity"/> messages wait, the client stops
    /// reading the socket. Each message goes to one reader.
    /// </summary>
    /// <param name="cancellationToken">Ends the enumeration.</param>
    /// <returns>The messages.</returns>
    /// <exception cref="ObjectDisposedException">The client was disposed.</exception>
    public IAsyncEnumerable<WebSocketPoolClientMessage> ReadAllAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _received.Reader.ReadAllAsync(cancellationToken);
    }

    /// <summary>Stops the client (as <see cref="StopAsync"/>) and releases everything it holds. Calling it again is harmless.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            await _closed.Task.ConfigureAwait(false);
            return;
        }

        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        _preview?.Dispose();
        _stop.Dispose();
    }
}

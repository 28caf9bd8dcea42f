// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using System.Net.WebSockets;

namespace WebSocketPool.Client;

/// <summary>
/// Settings of a <see cref="WebSocketPoolClient"/>, validated when the client is created (an invalid value throws
/// <see cref="Microsoft.Extensions.Options.OptionsValidationException"/> naming the option and its allowed range) and
/// read only then: later changes have no effect on that client.
/// </summary>
public sealed class WebSocketPoolClientOptions
{
    /// <summary>Gets or sets the server's WebSocket address (<c>ws://</c> or <c>wss://</c>), for example <c>wss://example.com/ws</c>.</summary>
    /// <value>The default is <see langword="null"/>: it must be set.</value>
    public Uri? Uri { get; set; }

    /// <summary>Gets the subprotocols offered in the handshake, in order of preference.</summary>
    public IList<string> SubProtocols { get; } = [];

    /// <summary>
    /// Gets the request headers sent with every handshake and every preview (for example <c>Authorization</c>).
    /// </summary>
    public IDictionary<string, string> Headers { get; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Gets or sets the cookies sent with every handshake and preview, and updated from their responses.</summary>
    /// <value>The default is <see langword="null"/>: no cookies.</value>
    public CookieContainer? Cookies { get; set; }

    /// <summary>Gets or sets the credentials used for every handshake and preview.</summary>
    /// <value>The default is <see langword="null"/>.</value>
    public ICredentials? Credentials { get; set; }

    /// <summary>
    /// Gets or sets a callback that configures each handshake's <see cref="ClientWebSocketOptions"/> (certificates, proxy,
    /// a fresh token header). It runs before every attempt, after <see cref="Headers"/>, <see cref="Cookies"/>,
    /// <see cref="Credentials"/>, <see cref="SubProtocols"/> and the keep-alive settings were applied. What it sets does
    /// not reach the preview.
    /// </summary>
    /// <value>The default is <see langword="null"/>.</value>
    public Action<ClientWebSocketOptions>? ConfigureWebSocket { get; set; }

    /// <summary>
    /// Gets or sets a value indicating whether a plain HTTP GET of the same address (the pool's admission preview) comes
    /// before each connection attempt. A refused handshake already tells the client its status and <c>Retry-After</c>;
    /// the preview adds the refusal's <c>reason</c>, <c>limit</c> and <c>current</c> at the cost of one round trip.
    /// </summary>
    /// <value>The default is <see langword="false"/>.</value>
    public bool Preview { get; set; }

    /// <summary>Gets or sets the first backoff step: attempt n waits a random time up to <c>ReconnectBaseDelay × 2^(n-1)</c>, capped by <see cref="ReconnectMaxDelay"/>.</summary>
    /// <value>The default is 500 milliseconds (as in the JavaScript client). Allowed: 1 millisecond to 1 hour.</value>
    public TimeSpan ReconnectBaseDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Gets or sets the largest backoff step (the server's <c>Retry-After</c> may still ask for longer).</summary>
    /// <value>The default is 30 seconds. Allowed: <see cref="ReconnectBaseDelay"/> to 1 day.</value>
    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets the longest wait before a prompt reconnect (after 1001, 1012 or 4004): a random time up to it.</summary>
    /// <value>The default is 1 second. Allowed: zero to 1 minute.</value>
    public TimeSpan PromptReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Gets or sets how many reconnect attempts in a row may fail before the client gives up and closes; the count starts
    /// again after each successful connection.
    /// </summary>
    /// <value>The default is <see langword="null"/>: no limit. Allowed: 0 (never reconnect) and above.</value>
    public int? MaxReconnectAttempts { get; set; }

    /// <summary>Gets or sets the most messages waiting to be sent; <see cref="WebSocketPoolClient.SendAsync(ReadOnlyMemory{byte}, WebSocketMessageType, CancellationToken)"/> beyond it throws <see cref="WebSocketPoolSendQueueFullException"/>.</summary>
    /// <value>The default is 256. Allowed: 1 to 1,000,000.</value>
    public int SendQueueCapacity { get; set; } = 256;

    /// <summary>Gets or sets the most payload bytes waiting to be sent.</summary>
    /// <value>The default is 4 MiB. Allowed: 1 to 1 GiB.</value>
    public long SendQueueMaxBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>
    /// Gets or sets the most received messages waiting for <see cref="WebSocketPoolClient.ReadAllAsync"/>. When it is
    /// full the client stops reading the socket until a message is taken, which the server sees as a slow consumer.
    /// </summary>
    /// <value>The default is 1024. Allowed: 1 to 1,000,000.</value>
    public int ReceiveQueueCapacity { get; set; } = 1024;

    /// <summary>Gets or sets the largest message the client accepts; a larger one closes the connection with 1009 (terminal).</summary>
    /// <value>The default is 1 MiB. Allowed: 1 to 1 GiB.</value>
    public int MaxReceiveMessageBytes { get; set; } = 1024 * 1024;

    /// <summary>Gets or sets how often the client pings the server; <see cref="TimeSpan.Zero"/> turns keep-alive off.</summary>
    /// <value>The default is 15 seconds. Allowed: zero to 1 hour.</value>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Gets or sets how long the client waits for the server's pong before it drops the connection (then 1006: backoff);
    /// <see cref="Timeout.InfiniteTimeSpan"/> sends unsolicited pongs instead and never times out.
    /// </summary>
    /// <value>The default is 30 seconds. Allowed: 1 second to 1 hour, or infinite.</value>
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets how long one handshake (and one preview) may take before the attempt counts as failed.</summary>
    /// <value>The default is 30 seconds. Allowed: 1 millisecond to 10 minutes.</value>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets how long <see cref="WebSocketPoolClient.StopAsync"/> waits for queued sends and the closing handshake before it aborts the socket.</summary>
    /// <value>The default is 5 seconds. Allowed: zero to 10 minutes.</value>
    public TimeSpan CloseTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Gets or sets a value indicating whether the client speaks the pool's resume protocol (<c>websocketpool.resume.v1</c>,
    /// offered composed with each of <see cref="SubProtocols"/>, then the plain ones): after a dropped connection it
    /// reconnects into its session and receives what it missed, in order and once (<see cref="WebSocketPoolReconnectedEventArgs.Resumed"/>).
    /// The pool needs <c>Resume:Enabled</c>.
    /// </summary>
    /// <value>The default is <see langword="false"/>.</value>
    public bool Resume { get; set; }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace WebSocketPool;

/// <summary>
/// Options of the WebSocket pool, bound from the <c>WebSocketPool</c> configuration section. Every option is
/// validated when the host starts; a bad value, or an unknown key in the section, stops the host.
/// </summary>
public sealed class WebSocketPoolOptions
{
    /// <summary>The name of the configuration section the options are bound from.</summary>
    public const string SectionName = "WebSocketPool";

    /// <summary>
    /// The name of the subsection holding named pools' options: <c>WebSocketPool:Pools:{name}</c> binds over the shared
    /// values of the <c>WebSocketPool</c> section for the pool mapped as <c>{name}</c>.
    /// </summary>
    public const string PoolsSectionName = "Pools";

    /// <summary>
    /// The name of the default pool (the one <c>UseWebSocketPooling()</c>, and <c>MapWebSocketPool</c> without a name,
    /// serve): its metrics tag, its key for keyed services and its <c>?pool=</c> on the stats endpoint.
    /// </summary>
    public const string DefaultPoolName = "default";

    /// <summary>Gets or sets the request path served by the pooling middleware.</summary>
    /// <value>The default is <c>/ws</c>.</value>
    [Required]
    [RegularExpression("^/.*", ErrorMessage = "Path must start with '/'.")]
    public string Path { get; set; } = "/ws";

    /// <summary>Gets or sets the most connections one user may hold open (on this node; cluster-wide with Redis).</summary>
    /// <value>The default is 10.</value>
    [Range(1, 1_000_000)]
    public int MaxConnectionsPerUser { get; set; } = 10;

    /// <summary>
    /// Gets or sets the name of a group of pools that share one per-user total: a user's connections in every pool of the
    /// group count together against <see cref="MaxConnectionsPerUser"/>, which must be the same in each of them. Without a
    /// group, the per-user limit is the pool's own. On this node only: a pool with Redis scale-out may not join a group.
    /// </summary>
    /// <value>The default is <see langword="null"/>: the pool counts its users' connections alone.</value>
    [RegularExpression("^[A-Za-z0-9_.-]{1,64}$", ErrorMessage = "UserLimitGroup must be 1 to 64 letters, digits, '_', '-' or '.'.")]
    public string? UserLimitGroup { get; set; }

    /// <summary>Gets or sets the most connections open on this node. Keep it below what the process can hold (open files).</summary>
    /// <value>The default is 10,000.</value>
    [Range(1, 1_000_000)]
    public int MaxConnections { get; set; } = 10_000;

    /// <summary>Gets or sets what happens when a user at <see cref="MaxConnectionsPerUser"/> opens another connection.</summary>
    /// <value>The default is <see cref="WebSocketPool.OverflowPolicy.Reject"/>.</value>
    [EnumDataType(typeof(OverflowPolicy))]
    public OverflowPolicy OverflowPolicy { get; set; } = OverflowPolicy.Reject;

    /// <summary>Gets or sets the period of keep-alive pings. <see cref="TimeSpan.Zero"/> turns keep-alive off.</summary>
    /// <value>The default is 15 seconds.</value>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Gets or sets how long a ping may go unanswered before the connection is aborted and released. .NET checks about
    /// every quarter of the smaller of interval and timeout (at least every second), so allow a second of slack.
    /// </summary>
    /// <value>The default is 30 seconds.</value>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets the largest incoming message, in bytes; a larger one closes the connection with 1009.</summary>
    /// <value>The default is 65,536.</value>
    [Range(16, 64 * 1024 * 1024)]
    public int MaxMessageBytes { get; set; } = 64 * 1024;

    /// <summary>Gets or sets how many outbound messages may wait in one connection's queue.</summary>
    /// <value>The default is 256.</value>
    [Range(1, 1_000_000)]
    public int SendQueueCapacity { get; set; } = 256;

    /// <summary>Gets or sets what happens when a connection's outbound queue is full.</summary>
    /// <value>The default is <see cref="WebSocketPool.SlowConsumerPolicy.Disconnect"/>.</value>
    [EnumDataType(typeof(SlowConsumerPolicy))]
    public SlowConsumerPolicy SlowConsumerPolicy { get; set; } = SlowConsumerPolicy.Disconnect;

    /// <summary>
    /// Gets or sets how long one send (or the closing handshake) may take before the connection is aborted.
    /// </summary>
    /// <value>The default is 10 seconds.</value>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan SendTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Gets or sets how long shutdown waits for sockets to close after sending 1001, before aborting the rest.</summary>
    /// <value>The default is 5 seconds.</value>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Gets the origins allowed to open WebSockets. Empty allows only the request's own host; <c>*</c> allows any.
    /// Requests without an Origin header (non-browser clients) always pass.
    /// </summary>
    /// <value>The default is empty (same origin only).</value>
    public IList<string> AllowedOrigins { get; } = [];

    /// <summary>
    /// Gets the WebSocket subprotocols (<c>Sec-WebSocket-Protocol</c>) the pool speaks. Of those a client offers, the
    /// first in the client's order that is listed here is selected (RFC 6455 lets the server choose; the client's order is
    /// its preference) and is <see cref="WebSocketConnection.SubProtocol"/>. Names compare ordinally (case-sensitive), as
    /// browsers compare the server's answer. A client that offers subprotocols of which the pool speaks none is refused
    /// before the upgrade with 400 <c>subprotocol</c> (browsers and <c>ClientWebSocket</c> fail a 101 that selects none of
    /// their offers). Each entry is an RFC 6455 token (printable ASCII without separators), listed once; checked at start.
    /// </summary>
    /// <value>The default is empty: the pool speaks no subprotocol and accepts only clients that offer none.</value>
    public IList<string> SubProtocols { get; } = [];

    /// <summary>
    /// Gets or sets a value indicating whether a client must offer one of <see cref="SubProtocols"/>: a client that offers
    /// none is then refused with 400 <c>subprotocol</c> before the upgrade. Needs at least one entry in <see cref="SubProtocols"/>.
    /// </summary>
    /// <value>The default is <see langword="false"/>: a client that offers no subprotocol is accepted without one.</value>
    public bool RequireSubProtocol { get; set; }

    /// <summary>
    /// Gets the per-message compression (permessage-deflate, RFC 7692) settings. Off by default: see
    /// <see cref="WebSocketCompressionOptions.Enabled"/> for its memory cost and its risk for secrets.
    /// </summary>
    [ValidateObjectMembers]
    public WebSocketCompressionOptions Compression { get; } = new();

    /// <summary>
    /// Gets the resume settings: whether a client that drops its socket can reconnect into its session and receive what
    /// it missed (<c>docs/resume-protocol.md</c>). Off by default.
    /// </summary>
    [ValidateObjectMembers]
    public WebSocketResumeOptions Resume { get; } = new();

    /// <summary>Gets or sets a value indicating whether unauthenticated requests are admitted, keyed by their remote IP address.</summary>
    /// <value>The default is <see langword="false"/> (401 without a user).</value>
    public bool AllowAnonymous { get; set; }

    /// <summary>
    /// Gets or sets a value indicating whether the pool's upgrade spans (activity source <c>WebSocketPool</c>) carry the
    /// user key as <c>enduser.id</c>. User keys may be personal data, and traces often leave the process for a vendor's
    /// backend, so this is off unless the app decides otherwise.
    /// </summary>
    /// <value>The default is <see langword="false"/>: no span names a user.</value>
    public bool TraceUserKey { get; set; }

    /// <summary>
    /// Gets or sets how long a user's freed manager stays warm for that user's next connection before it is reset and
    /// returned to the shared pool. <see cref="TimeSpan.Zero"/> returns managers to the shared pool at once.
    /// </summary>
    /// <value>The default is 30 seconds.</value>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan ReuseWindow { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets how many reset managers the shared object pool retains.</summary>
    /// <value>The default is 1,024.</value>
    [Range(0, 1_000_000)]
    public int MaxPooledManagers { get; set; } = 1024;

    /// <summary>Gets or sets the connection attempts per second one user may make; 0 turns the limit off.</summary>
    /// <value>The default is 0 (off).</value>
    [Range(0, 1_000_000)]
    public double ConnectRateLimit { get; set; }

    /// <summary>Gets or sets the burst size of the per-user connect rate limit.</summary>
    /// <value>The default is 10.</value>
    [Range(1, 1_000_000)]
    public int ConnectRateBurst { get; set; } = 10;

    /// <summary>
    /// Gets or sets the most connections one client IP address may hold open on this node; 0 turns the limit off. It
    /// stops one client from filling the node under many user names. IPv6 clients are grouped by network (see
    /// <see cref="IPv6PrefixLength"/>). Checked after authentication and before the per-user checks; a refusal is 429
    /// <c>ip_limit</c>. The address is <c>HttpContext.Connection.RemoteIpAddress</c>: behind a proxy, add
    /// <c>UseForwardedHeaders</c> (with the proxy among its known proxies) before <c>UseWebSocketPooling</c>, or every
    /// client counts as the proxy. A request without an address (a test server, a Unix socket) is not limited. Like
    /// <see cref="MaxConnections"/> it counts handshakes in progress and sockets still closing after a kick or eviction.
    /// </summary>
    /// <value>The default is 0 (off).</value>
    [Range(0, 1_000_000)]
    public int MaxConnectionsPerIP { get; set; }

    /// <summary>
    /// Gets or sets the connection attempts per second one client IP address (or IPv6 network) may make; 0 turns the
    /// limit off. A token bucket of <see cref="ConnectRateBurstPerIP"/> tokens; checked first after authentication and the subprotocol check, so an
    /// attempt refused by a later check still spends its token. A refusal is 429 <c>ip_rate_limited</c> with Retry-After.
    /// </summary>
    /// <value>The default is 0 (off).</value>
    [Range(0, 1_000_000)]
    public double ConnectRateLimitPerIP { get; set; }

    /// <summary>Gets or sets the burst size of the per-IP connect rate limit.</summary>
    /// <value>The default is 20.</value>
    [Range(1, 1_000_000)]
    public int ConnectRateBurstPerIP { get; set; } = 20;

    /// <summary>
    /// Gets or sets how many leading bits of an IPv6 address make one client for the per-IP limits. One subscriber
    /// usually holds a whole /64 (and privacy extensions pick new addresses in it at will), so per-address counting would
    /// let one client through under many addresses. IPv4 addresses, and IPv4 mapped into IPv6, count one each.
    /// </summary>
    /// <value>The default is 64.</value>
    [Range(16, 128)]
    public int IPv6PrefixLength { get; set; } = 64;

    /// <summary>
    /// Gets or sets the messages per second one user may send across all of their connections; 0 turns the limit off.
    /// A message over the limit is not delivered to the handler; <see cref="WebSocketHandler.OnRateLimitedAsync"/> decides what follows.
    /// </summary>
    /// <value>The default is 0 (off).</value>
    [Range(0, 1_000_000)]
    public double MessageRateLimit { get; set; }

    /// <summary>Gets or sets the burst size of the per-user message rate limit.</summary>
    /// <value>The default is 20.</value>
    [Range(1, 1_000_000)]
    public int MessageRateBurst { get; set; } = 20;

    /// <summary>Gets or sets the fraction of a limit at which health turns Degraded and near-limit users are reported.</summary>
    /// <value>The default is 0.5.</value>
    [Range(0.01, 1.0)]
    public double AlertThreshold { get; set; } = 0.5;

    /// <summary>Gets or sets how often the self-audit compares counted leases with live sockets; <see cref="TimeSpan.Zero"/> turns it off.</summary>
    /// <value>The default is 1 minute.</value>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan AuditInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Gets or sets how long an incoming message may take to arrive once it has started: a message whose frames stop
    /// coming (a first fragment and then silence) would otherwise hold its receive buffer, up to
    /// <see cref="MaxMessageBytes"/>, for as long as the peer likes. Past it the connection is closed with 1008
    /// ("Message not completed in time.") and the buffer goes back to the pool. The clock starts the first time a read of
    /// the message has to wait, so messages that arrive whole cost nothing. <see cref="TimeSpan.Zero"/> turns it off.
    /// </summary>
    /// <value>The default is 30 seconds (the same budget Kestrel gives request headers).</value>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan MessageAssemblyTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Gets or sets a value indicating whether a connection is closed with 4005 when the authentication it was opened
    /// with expires, as SignalR's <c>CloseOnAuthenticationExpiration</c> does. The expiry is read at the upgrade from the
    /// request's authentication result (<c>IAuthenticateResultFeature</c>: <c>AuthenticateResult.Properties.ExpiresUtc</c>,
    /// which the cookie handler sets from the ticket and the JWT bearer handler from the token's <c>exp</c>); a request
    /// whose authentication has no expiry gets no timer. A request whose authentication has already expired is refused
    /// with 401 before the upgrade.
    /// </summary>
    /// <value>The default is <see langword="false"/>: a connection outlives its authentication.</value>
    public bool CloseOnAuthenticationExpiration { get; set; }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using System.Net.WebSockets;
using System.Security.Claims;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using WebSocketPool.Internal;

namespace WebSocketPool;

/// <summary>
/// A handle to one pooled connection for the lifetime of one lease. Managers are pooled and reused, so a handle
/// remembers the lease generation it was issued for: once that lease ends, sends through the handle return
/// <see cref="SendResult.StaleHandle"/> and <see cref="Items"/> throws, and the handle can never reach the next
/// user's socket. Keeping a handle after the connection ended is therefore safe, but useless.
/// </summary>
/// <remarks>
/// The request that opened the connection is reachable as SignalR's hub context offers it: <see cref="User"/>,
/// <see cref="RemoteIpAddress"/>, <see cref="Query"/>, <see cref="RouteValues"/>, <see cref="SubProtocol"/> and
/// <see cref="GetHttpContext"/>. All of them are valid only while the connection lives, until
/// <see cref="WebSocketHandler.OnDisconnectedAsync"/> has returned; after that nothing of the request stays reachable
/// through the handle (the properties throw and <see cref="GetHttpContext"/> returns <see langword="null"/>). Copy what
/// you need later (a claim, a query value) while the connection is open, and never keep the <see cref="HttpContext"/>
/// itself: ASP.NET Core reuses it for later requests.
/// </remarks>
public readonly struct WebSocketConnection : IEquatable<WebSocketConnection>
{
    private readonly IsolatedWebSocketManager? _manager;
    private readonly long _generation;

    internal WebSocketConnection(IsolatedWebSocketManager manager, long generation, string connectionId, string userKey)
    {
        _manager = manager;
        _generation = generation;
        ConnectionId = connectionId;
        UserKey = userKey;
    }

    /// <summary>Gets the connection id, unique for the life of the process and never reused.</summary>
    public string ConnectionId { get; }

    /// <summary>Gets the key of the user who owns the connection.</summary>
    public string UserKey { get; }

    /// <summary>Gets a value indicating whether the lease behind this handle is still current and the socket open.</summary>
    public bool IsActive => _manager is { } m && m.IsCurrent(_generation) && m.IsOpenForSend;

    /// <summary>Gets the time the connection was accepted.</summary>
    /// <exception cref="InvalidOperationException">The handle outlived its lease.</exception>
    public DateTimeOffset ConnectedAt => Current.ConnectedAt;

    /// <summary>Gets the time the last message was received from the client, or <see langword="null"/> if none was.</summary>
    /// <exception cref="InvalidOperationException">The handle outlived its lease.</exception>
    public DateTimeOffset? LastReceivedAt => Current.LastReceivedAt;

    /// <summary>
    /// Gets a bag for the app's per-connection state, usable until <see cref="WebSocketHandler.OnDisconnectedAsync"/> has
    /// returned. Each connection gets its own bag; it is dropped when the lease ends, and a later connection on the same
    /// pooled manager starts with a new one.
    /// </summary>
    /// <exception cref="InvalidOperationException">The handle outlived its lease.</exception>
    public IDictionary<object, object?> Items =>
        _manager?.GetItems(_generation) ?? throw new InvalidOperationException($"The lease of connection '{ConnectionId}' has ended; the handle is stale.");

    /// <summary>
    /// Gets the user of the upgrade request: the principal authentication had set when the connection was accepted (an
    /// unauthenticated principal for anonymous connections).
    /// </summary>
    /// <exception cref="InvalidOperationException">The handle outlived its lease.</exception>
    public ClaimsPrincipal User => Manager.ReadRequest<ClaimsPrincipal?>(_generation, static c => c.User, null) ?? new ClaimsPrincipal(new ClaimsIdentity());

    /// <summary>Gets the client's address as the upgrade request saw it (after forwarded headers), or <see langword="null"/> when unknown.</summary>
    /// <exception cref="InvalidOperationException">The handle outlived its lease.</exception>
    public IPAddress? RemoteIpAddress => Manager.ReadRequest<IPAddress?>(_generation, static c => ClientAddress.Of(c), null);

    /// <summary>Gets the query string of the upgrade request.</summary>
    /// <exception cref="InvalidOperationException">The handle outlived its lease.</exception>
    public IQueryCollection Query => Manager.ReadRequest(_generation, static c => c.Request.Query, QueryCollection.Empty);

    /// <summary>
    /// Gets a copy of the route values of the upgrade request (<c>HttpContext.Request.RouteValues</c>): empty for the
    /// middleware's fixed path, filled by an endpoint's route pattern.
    /// </summary>
    /// <exception cref="InvalidOperationException">The handle outlived its lease.</exception>
    public RouteValueDictionary RouteValues => Manager.ReadRequest(_generation, static c => new RouteValueDictionary(c.Request.RouteValues), []);

    /// <summary>
    /// Gets the services of the connection's own DI scope: one scope per connection, made on first use and disposed
    /// after <see cref="WebSocketHandler.OnDisconnectedAsync"/> has returned, on every path out (close, drop, kick,
    /// eviction, shutdown). Resolve scoped services (a <c>DbContext</c>, a unit of work) here: the handler itself is a
    /// singleton, so it must not take them in its constructor. The scope serves the connection's callbacks one at a
    /// time, as they run; a scoped service that is not thread-safe must not be used from other threads meanwhile.
    /// </summary>
    /// <exception cref="InvalidOperationException">The handle outlived its lease, or the connection has ended.</exception>
    public IServiceProvider Services => Manager.GetServices(_generation);

    /// <summary>
    /// Gets the WebSocket subprotocol selected at the upgrade (the first the client offered that
    /// <see cref="WebSocketPoolOptions.SubProtocols"/> lists), or <see langword="null"/> when none was.
    /// </summary>
    /// <exception cref="InvalidOperationException">The handle outlived its lease.</exception>
    public string? SubProtocol => Manager.GetSubProtocol(_generation);

    private IsolatedWebSocketManager Manager =>
        _manager ?? throw new InvalidOperationException("The handle is default: it names no connection.");

    private IsolatedWebSocketManager Current =>
        _manager is { } m && m.IsCurrent(_generation)
            ? m
            : throw new InvalidOperationException($"The lease of connection '{ConnectionId}' has ended; the handle is stale.");

    /// <summary>
    /// Gets the upgrade request's <see cref="HttpContext"/> while the connection lives, as SignalR's
    /// <c>GetHttpContext()</c>: for headers, features and anything else of the request. Returns <see langword="null"/>
    /// once the lease has ended. Use it during a callback and do not keep it: ASP.NET Core reuses the context for later
    /// requests once the connection has ended. Its <c>RequestServices</c> scope is the request's, which lives as long
    /// as the connection.
    /// </summary>
    /// <returns>The request's context, or <see langword="null"/> when the handle is stale or the connection did not come through the middleware.</returns>
    public HttpContext? GetHttpContext() => _manager?.GetHttpContext(_generation);

    /// <summary>Queues a text message for this connection.</summary>
    /// <param name="text">The text to send.</param>
    /// <returns>Whether the message was queued, and if not, why.</returns>
    public SendResult SendText(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Send(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text);
    }

    /// <summary>
    /// Queues a message for this connection. The payload is not copied: the caller must not change it afterwards.
    /// </summary>
    /// <param name="payload">The message bytes.</param>
    /// <param name="messageType">Text or binary.</param>
    /// <returns>Whether the message was queued, and if not, why.</returns>
    public SendResult Send(ReadOnlyMemory<byte> payload, WebSocketMessageType messageType)
    {
        if (messageType == WebSocketMessageType.Close)
        {
            throw new ArgumentException("Use CloseAsync to close a connection.", nameof(messageType));
        }

        return _manager is null ? SendResult.StaleHandle : _manager.Enqueue(_generation, payload, messageType);
    }

    /// <summary>
    /// Starts the closing handshake with the given code. Queued messages are sent first. Returns at once; the lease is
    /// released when the socket has closed (or been aborted after <see cref="WebSocketPoolOptions.SendTimeout"/>).
    /// </summary>
    /// <param name="closeCode">1000–1003, 1007–1014 or 3000–4999 (see <see cref="WebSocketCloseCodes"/>).</param>
    /// <param name="reason">An optional reason, at most 123 UTF-8 bytes.</param>
    /// <returns><see langword="true"/> if this call started the close; <see langword="false"/> if the handle is stale or the connection already closing.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The code is not one an application may send, or the reason is too long.</exception>
    public bool Close(int closeCode = WebSocketCloseCodes.Normal, string? reason = null)
    {
        CloseArguments.ThrowIfInvalid(closeCode, reason);
        return _manager is not null && _manager.RequestClose(_generation, closeCode, reason, DisconnectReason.ServerClosed, discardPending: false);
    }

    /// <summary>Aborts the connection without a closing handshake. Harmless on a stale handle.</summary>
    public void Abort() => _manager?.Abort(_generation, DisconnectReason.Aborted);

    /// <inheritdoc/>
    public bool Equals(WebSocketConnection other) => ReferenceEquals(_manager, other._manager) && _generation == other._generation;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is WebSocketConnection other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(_manager, _generation);

    /// <inheritdoc/>
    public override string ToString() => ConnectionId ?? string.Empty;

    /// <summary>Compares two handles for equality.</summary>
    /// <param name="left">The first handle.</param>
    /// <param name="right">The second handle.</param>
    /// <returns><see langword="true"/> when both name the same lease.</returns>
    public static bool operator ==(WebSocketConnection left, WebSocketConnection right) => left.Equals(right);

    /// <summary>Compares two handles for inequality.</summary>
    /// <param name="left">The first handle.</param>
    /// <param name="right">The second handle.</param>
    /// <returns><see langword="true"/> when the handles name different leases.</returns>
    public static bool operator !=(WebSocketConnection left, WebSocketConnection right) => !left.Equals(right);
}

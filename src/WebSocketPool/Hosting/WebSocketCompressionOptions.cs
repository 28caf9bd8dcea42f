// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.ComponentModel.DataAnnotations;

namespace WebSocketPool;

/// <summary>
/// Per-message compression (permessage-deflate, RFC 7692) for one pool, bound from <c>WebSocketPool:Compression</c>. It is
/// negotiated only with clients that offer it (browsers do; <c>ClientWebSocket</c> does when
/// <c>Options.DangerousDeflateOptions</c> is set), through ASP.NET Core's <c>WebSocketAcceptContext</c>.
/// </summary>
public sealed class WebSocketCompressionOptions
{
    /// <summary>
    /// Gets or sets a value indicating whether permessage-deflate is accepted when a client offers it.
    /// </summary>
    /// <remarks>
    /// <para>
    /// <b>Memory.</b> A compressed connection keeps a zlib deflater and inflater between messages (context takeover), in
    /// native memory outside the GC heap, made on its first message. Measured on the server over 1,000 connections
    /// (<c>benchmarks/CompressionFootprint</c>, resident memory after one 1 KiB message each way): about 28 KiB per
    /// connection with compression off, 256 KiB with it on (so about +228 KiB each: 228 MB per 1,000 connections),
    /// 189 KiB with <see cref="ServerMaxWindowBits"/> 9, and 70 KiB with <see cref="DisableServerContextTakeover"/> (the
    /// inflater a client's own context takeover keeps). A connection that has not exchanged a message yet costs no more.
    /// Size <see cref="WebSocketPoolOptions.MaxConnections"/> for it.
    /// </para>
    /// <para>
    /// <b>Secrets.</b> Compression leaks how well a message compresses. When one message mixes a secret (a token, another
    /// user's data) with text an attacker controls, the attacker can learn the secret from message sizes (the CRIME and
    /// BREACH attacks on TLS compression). Enable it only for messages that carry no secrets beside attacker-controlled
    /// text, or send such messages on a pool without compression.
    /// </para>
    /// </remarks>
    /// <value>The default is <see langword="false"/> (ASP.NET Core's <c>DangerousEnableCompression</c>).</value>
    public bool Enabled { get; set; }

    /// <summary>
    /// Gets or sets the base-2 logarithm of the server's LZ77 window (<c>server_max_window_bits</c>): smaller windows
    /// compress less and cost less memory. A client's own <c>client_max_window_bits</c> offer is honoured as it comes.
    /// </summary>
    /// <value>The default is 15 (32 KiB, zlib's and ASP.NET Core's default).</value>
    [Range(9, 15)]
    public int ServerMaxWindowBits { get; set; } = 15;

    /// <summary>
    /// Gets or sets a value indicating whether the server resets its compression context after each message
    /// (<c>server_no_context_takeover</c>): the deflater is freed between messages, so an idle connection keeps none, at
    /// the cost of a worse ratio on small, similar messages. The client's inflater context is the client's choice
    /// (<c>client_no_context_takeover</c>).
    /// </summary>
    /// <value>The default is <see langword="false"/> (the context is kept).</value>
    public bool DisableServerContextTakeover { get; set; }
}

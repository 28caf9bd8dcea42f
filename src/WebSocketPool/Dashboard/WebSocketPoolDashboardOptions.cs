// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool;

/// <summary>How <c>MapWebSocketPoolDashboard</c> serves the pool's dashboard page.</summary>
public sealed class WebSocketPoolDashboardOptions
{
    /// <summary>
    /// Gets or sets the pool the dashboard shows: the name of a named pool (mapped with
    /// <c>MapWebSocketPool&lt;THandler&gt;(pattern, name)</c> before its dashboard), or <see langword="null"/> for the
    /// default pool. Map one dashboard per pool, each under its own prefix.
    /// </summary>
    /// <value>The default is <see langword="null"/>: the default pool.</value>
    public string? Pool { get; set; }

    /// <summary>Gets or sets how often the server records a sample of the pool for the page's chart.</summary>
    /// <value>The default is 5 seconds. At least 1 second, at most <see cref="History"/>.</value>
    public TimeSpan SampleInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Gets or sets how far back the chart goes. The server keeps this much history in a ring allocated once
    /// (<see cref="History"/> / <see cref="SampleInterval"/> samples, at most 10,000), so the chart survives a reload.
    /// </summary>
    /// <value>The default is 15 minutes.</value>
    public TimeSpan History { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Gets or sets how often the page asks for fresh data.</summary>
    /// <value>The default is 2 seconds. At least 250 milliseconds.</value>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Gets or sets a value indicating whether the page offers a kick button per user (a <c>POST</c> with an antiforgery
    /// token that closes the user's connections with 4003). It needs <c>services.AddAntiforgery()</c>.
    /// </summary>
    /// <value>The default is <see langword="true"/>.</value>
    public bool AllowKick { get; set; } = true;

    /// <summary>
    /// Gets or sets the authorization policy a caller must also satisfy to kick (the page shows the buttons only to
    /// them). Without one, whoever may see the page may kick.
    /// </summary>
    /// <value>The default is <see langword="null"/>.</value>
    public string? KickPolicy { get; set; }
}

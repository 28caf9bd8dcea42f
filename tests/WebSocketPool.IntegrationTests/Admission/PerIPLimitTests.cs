// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using WebSocketPool.IntegrationTests.Infrastructure;
using WebSocketPool.IntegrationTests.Reliability;

namespace WebSocketPool.IntegrationTests.Admission;

/// <summary>
/// Per-user limits do not stop one client that uses many names. The per-IP limits count a client address's connections
/// and attempts, whatever the names: refusals are 429 <c>ip_limit</c> / <c>ip_rate_limited</c> with Retry-After and a
/// problem body, another address is unaffected, the preview answers the same, and once the connections go the
/// address's count returns to 0 and its entry goes. A second client address is a socket bound to 127.0.0.2.
/// </summary>
public sealed class PerIPLimitTests
{
    private const int Names = 20;
    private static readonly IPAddress s_first = IPAddress.Loopback;
    private static readonly IPAddress s_second = IPAddress.Parse("127.0.0.2");
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(30);
    private static readonly HashSet<RawWebSocketClient> s_closed = new(ReferenceEqualityComparer.Instance);

    [Fact]
    public async Task Upgrade_TwentyNamesFromOneAddress_ExactlyThePerIPLimitIsAdmitted()
    {
        const int Limit = 50;
        const int Attempts = 100;
        await using var server = await StartAsync(o => o.MaxConnectionsPerIP = Limit);
        var first = new ConcurrentBag<RawWebSocketClient>();
        var second = new ConcurrentBag<RawWebSocketClient>();
        var again = new ConcurrentBag<RawWebSocketClient>();
        try
        {
            // One client, twenty names, five attempts each: the per-user limit (10) would admit them all.
            var outcomes = await AttemptAsync(server, Attempts, s_first, i => "name" + (i % Names), first);

            outcomes.Select(o => o.Status).Should().OnlyContain(s => s == 101 || s == 429);
            outcomes.Count(o => o.Status == 101).Should().Be(Limit, "the address may hold exactly its limit, whatever the names");
            foreach (var refused in outcomes.Where(o => o.Status == 429))
            {
                refused.Reason.Should().Be(RejectionReasons.IPLimit);
                refused.Limit.Should().Be(Limit);
                refused.Current.Should().Be(Limit);
                refused.RetryAfter.Should().BePositive();
            }

            server.Factory.GetAddressConnectionCount(s_first).Should().Be(Limit);
            server.Factory.GetSnapshot(0).Rejected[RejectionReasons.IPLimit].Should().Be(Attempts - Limit);

            // Another client address is not affected, and the preview answers each address's own decision.
            var others = await AttemptAsync(server, Names, s_second, i => "other" + i, second);
            others.Should().OnlyContain(o => o.Status == 101, "the second address has its own count");
            server.Factory.GetAddressConnectionCount(s_second).Should().Be(Names);
            var (previewStatus, previewBody) = await PreviewAsync(server, "fresh", s_first);
            previewStatus.Should().Be(HttpStatusCode.TooManyRequests);
            previewBody.GetProperty("reason").GetString().Should().Be(RejectionReasons.IPLimit);
            previewBody.GetProperty("limit").GetInt32().Should().Be(Limit);
            previewBody.GetProperty("current").GetInt32().Should().Be(Limit);
            (await PreviewAsync(server, "fresh", s_second)).Status.Should().Be(HttpStatusCode.OK);
            server.Factory.GetSnapshot(0).Rejected[RejectionReasons.IPLimit].Should().Be(Attempts - Limit, "a preview counts nothing");

            // Once the first address's connections end, whichever way, its count returns to 0 and it is admitted again.
            await CloseAllAsync(first);
            await Conditions.WaitAsync(() => server.Factory.GetAddressConnectionCount(s_first) == 0, s_deadline,
                "the first address's count returns to 0 as its connections end");
            server.Factory.AddressEntryCount.Should().Be(1, "only the second address, which still holds connections, keeps an entry");
            (await AttemptAsync(server, Limit, s_first, i => "name" + (i % Names), again))
                .Should().OnlyContain(o => o.Status == 101, "the address is admitted again up to its limit");

            await CloseAllAsync(second);
            await CloseAllAsync(again);
            await PoolInvariants.AssertSettledAsync(server);
            server.Factory.AddressEntryCount.Should().Be(0, "an address without connections leaves no entry behind");
        }
        finally
        {
            await CloseAllAsync(first.Concat(second).Concat(again));
        }
    }

    [Fact]
    public async Task Upgrade_ConnectRatePerAddress_RefusedBeyondTheBurstUntilTokensRefill()
    {
        const int Burst = 30;
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await StartAsync(
            o =>
            {
                o.ConnectRateLimitPerIP = 1;
                o.ConnectRateBurstPerIP = Burst;
            },
            time);
        var open = new ConcurrentBag<RawWebSocketClient>();
        try
        {
            var outcomes = await AttemptAsync(server, Burst + 10, s_first, i => "name" + (i % Names), open);

            outcomes.Count(o => o.Status == 101).Should().Be(Burst, "the address's burst is spent, whatever the names");
            foreach (var refused in outcomes.Where(o => o.Status != 101))
            {
                refused.Status.Should().Be(429);
                refused.Reason.Should().Be(RejectionReasons.IPRateLimited);
                refused.RetryAfter.Should().Be(TimeSpan.FromSeconds(1));
            }

            server.Factory.GetSnapshot(0).Rejected[RejectionReasons.IPRateLimited].Should().Be(10);
            (await AttemptAsync(server, 10, s_second, i => "other" + i, open)).Should().OnlyContain(o => o.Status == 101, "the second address has its own bucket");
            var (previewStatus, previewBody) = await PreviewAsync(server, "fresh", s_first);
            previewStatus.Should().Be(HttpStatusCode.TooManyRequests);
            previewBody.GetProperty("reason").GetString().Should().Be(RejectionReasons.IPRateLimited);

            // Five seconds refill five tokens.
            time.Advance(TimeSpan.FromSeconds(5));
            (await AttemptAsync(server, 6, s_first, i => "later" + i, open)).Count(o => o.Status == 101).Should().Be(5);

            // Closed and idle, the addresses' entries go once their buckets are full again (the sweep runs on the clock).
            await CloseAllAsync(open);
            await PoolInvariants.AssertSettledAsync(server);
            time.Advance(TimeSpan.FromSeconds(2 * Burst));
            await Conditions.WaitAsync(() => server.Factory.AddressEntryCount == 0, s_deadline, "idle addresses' refilled buckets are reclaimed");
        }
        finally
        {
            await CloseAllAsync(open);
        }
    }

    /// <summary>Behind a proxy the limit applies to the forwarded client address, never to the proxy's.</summary>
    [Fact]
    public async Task Upgrade_BehindProxyWithForwardedHeaders_CountsTheForwardedAddress()
    {
        await using var server = await PoolTestServer.StartAsync(
            o => o.MaxConnectionsPerIP = 2,
            pool: p => p.AddHandler<CoreTestHandler>(),
            services: s => s.Configure<ForwardedHeadersOptions>(o => o.ForwardedHeaders = ForwardedHeaders.XForwardedFor),
            pipeline: app =>
            {
                app.UseForwardedHeaders();
                app.UseWebSocketPooling();
            });
        var open = new List<RawWebSocketClient>();
        try
        {
            foreach (var (client, expected) in new[] { ("127.0.0.5", 101), ("127.0.0.5", 101), ("127.0.0.5", 429), ("127.0.0.6", 101) })
            {
                var socket = await RawWebSocketClient.OpenAsync(server.BaseUri);
                open.Add(socket);
                await socket.SendRawAsync(RawWebSocketClient.UpgradeRequest(server.BaseUri, "u" + open.Count, "/ws", null, ("X-Forwarded-For", client)));
                (await socket.ReadHandshakeResponseAsync()).Should().Be(expected, "client {0} behind the proxy", client);
            }

            server.Factory.GetAddressConnectionCount(IPAddress.Parse("127.0.0.5")).Should().Be(2);
            server.Factory.GetAddressConnectionCount(s_first).Should().Be(0, "the proxy's own address counts nothing");
        }
        finally
        {
            await CloseAllAsync(open);
        }
    }

    private static Task<PoolTestServer> StartAsync(Action<WebSocketPoolOptions> configure, TimeProvider? time = null) =>
        PoolTestServer.StartAsync(configure, pool: p => p.AddHandler<CoreTestHandler>(), services: s =>
        {
            if (time is not null)
            {
                s.AddSingleton(time);
            }
        });

    /// <summary>Upgrade attempts from <paramref name="local"/>, 32 at a time; admitted clients go to <paramref name="open"/>.</summary>
    private static async Task<List<Outcome>> AttemptAsync(PoolTestServer server, int count, IPAddress local, Func<int, string> user, ConcurrentBag<RawWebSocketClient> open)
    {
        var outcomes = new ConcurrentBag<Outcome>();
        await OverloadTests.ForEachBoundedAsync(count, 32, async i =>
        {
            using var cts = new CancellationTokenSource(s_deadline);
            var client = await RawWebSocketClient.OpenAsync(server.BaseUri, bufferSize: 4096, localAddress: local, cancellationToken: cts.Token);
            var status = await client.HandshakeAsync(server.BaseUri, user(i), cts.Token);
            if (status == 101)
            {
                open.Add(client);
                outcomes.Add(new Outcome(101, null, 0, 0, null));
                return;
            }

            try
            {
                using var body = JsonDocument.Parse(await client.ReadHandshakeBodyAsync(cts.Token));
                var retryAfter = client.HandshakeResponse.Split("\r\n")
                    .FirstOrDefault(l => l.StartsWith("Retry-After:", StringComparison.OrdinalIgnoreCase))?.Split(':', 2)[1].Trim();
                outcomes.Add(new Outcome(
                    status,
                    body.RootElement.GetProperty("reason").GetString(),
                    body.RootElement.TryGetProperty("limit", out var limit) ? limit.GetInt32() : -1,
                    body.RootElement.TryGetProperty("current", out var current) ? current.GetInt32() : -1,
                    retryAfter is null ? null : TimeSpan.FromSeconds(int.Parse(retryAfter, System.Globalization.CultureInfo.InvariantCulture))));
            }
            finally
            {
                await client.DisposeAsync();
            }
        });
        return [.. outcomes];
    }

    /// <summary>The admission preview (a plain GET) from <paramref name="local"/>.</summary>
    private static async Task<(HttpStatusCode Status, JsonElement Body)> PreviewAsync(PoolTestServer server, string user, IPAddress local)
    {
        using var http = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    socket.Bind(new IPEndPoint(local, 0));
                    await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        })
        { Timeout = s_deadline };
        using var response = await http.GetAsync(UpgradeProbe.PoolUri(server.BaseUri, user));
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return (response.StatusCode, json.RootElement.Clone());
    }

    /// <summary>Ends connections the ways clients do: a close handshake, a reset, or just the socket closed (each once).</summary>
    private static async Task CloseAllAsync(IEnumerable<RawWebSocketClient> clients)
    {
        List<RawWebSocketClient> list;
        lock (s_closed)
        {
            list = [.. clients.Where(s_closed.Add)];
        }

        await OverloadTests.ForEachBoundedAsync(list.Count, 32, async i =>
        {
            var client = list[i];
            try
            {
                if (i % 3 == 0)
                {
                    client.Reset();
                }
                else if (i % 3 == 1)
                {
                    using var cts = new CancellationTokenSource(s_deadline);
                    await client.SendCloseAsync(1000, cancellationToken: cts.Token);
                    await client.ReadUntilEndAsync(s_deadline);
                }
            }
            catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
            {
                // Already gone.
            }
            finally
            {
                await client.DisposeAsync();
            }
        });
    }

    private sealed record Outcome(int Status, string? Reason, int Limit, int Current, TimeSpan? RetryAfter);
}

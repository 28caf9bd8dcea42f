// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using Microsoft.Extensions.DependencyInjection;
using WebSocketPool.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace WebSocketPool.IntegrationTests.Admission;

/// <summary>
/// The failure the pool exists to prevent: a user who opens and closes connections quickly must never be locked out,
/// and a burst of concurrent upgrades must never push a user past the limit, not even for an instant.
/// </summary>
public sealed class OutageRegressionTests(ITestOutputHelper output)
{
    private const string User = "rapid-user";
    private const int Limit = 20;
    private const int Attempts = 2_000;
    private const int Rounds = 5;

    [Fact]
    public async Task ConcurrentUpgrades_OneUserTwoThousandAttemptsFiveRounds_AdmitsExactlyLimitAndReleasesToZero()
    {
        await using var server = await PoolTestServer.StartAsync(
            o =>
            {
                o.MaxConnectionsPerUser = Limit;
                o.MaxConnections = 10_000;
            },
            pool: p => p.AddHandler<OpenTracker>());
        var tracker = server.App.Services.GetRequiredService<OpenTracker>();
        var uri = server.WebSocketUri(User);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));

        for (var round = 1; round <= Rounds; round++)
        {
            var rejectedBefore = server.Factory.GetSnapshot(0).Rejected[RejectionReasons.UserLimit];
            var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var attempts = new Task<Attempt>[Attempts];
            for (var i = 0; i < Attempts; i++)
            {
                attempts[i] = AttemptAsync(uri, gate.Task, timeout.Token);
            }

            var burst = Stopwatch.StartNew();
            Attempt[] results;
            using (var sampler = new MaxSampler(() => server.Factory.GetConnectionCount(User), TimeSpan.FromMinutes(2)))
            {
                gate.SetResult();
                results = await Task.WhenAll(attempts).WaitAsync(timeout.Token);
                var maxSeen = sampler.Stop();
                output.WriteLine($"round {round}: {Attempts} attempts answered in {burst.ElapsedMilliseconds} ms; " +
                    $"max count sampled {maxSeen} over {sampler.Samples} samples; max open in handler {tracker.MaxOpen}");
                maxSeen.Should().BeLessThanOrEqualTo(Limit, "the user's count may never exceed the limit, not even for an instant");
            }

            var opened = results.Where(r => r.Status == HttpStatusCode.SwitchingProtocols).Select(r => r.Client!).ToList();
            try
            {
                opened.Should().HaveCount(Limit, "exactly the limit is admitted while nothing closes");
                results.Count(r => r.Status == HttpStatusCode.TooManyRequests).Should().Be(Attempts - Limit,
                    "every extra attempt is refused with 429 before any upgrade");
                tracker.MaxOpen.Should().BeLessThanOrEqualTo(Limit);
                server.Factory.GetConnectionCount(User).Should().Be(Limit);
                server.Factory.ActiveConnections.Should().Be(Limit);
                (server.Factory.GetSnapshot(0).Rejected[RejectionReasons.UserLimit] - rejectedBefore).Should().Be(Attempts - Limit);

                var closing = Stopwatch.StartNew();
                await Task.WhenAll(opened.Select(c => c.CloseAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token)));
                var closed = closing.Elapsed;
                var released = await Conditions.WaitAsync(
                    () => server.Factory.GetConnectionCount(User) == 0 && server.Factory.ActiveConnections == 0,
                    TimeSpan.FromSeconds(5),
                    "the user's count returns to 0 once every client has closed");
                output.WriteLine($"round {round}: {Limit} closes completed in {closed.TotalMilliseconds:F1} ms; " +
                    $"count back to 0 {released.TotalMilliseconds:F2} ms after the last close completed");
                await Conditions.WaitAsync(() => tracker.Open == 0, TimeSpan.FromSeconds(5), "every disconnect callback ran");
            }
            finally
            {
                foreach (var client in opened)
                {
                    client.Dispose();
                }
            }
        }

        server.Factory.GetConnectionCount(User).Should().Be(0);
        server.Factory.UserEntryCount.Should().BeLessThanOrEqualTo(1, "only the user's warm managers may remain");
    }

    private static async Task<Attempt> AttemptAsync(Uri uri, Task gate, CancellationToken cancellationToken)
    {
        await gate;
        var client = new ClientWebSocket();
        client.Options.KeepAliveInterval = TimeSpan.Zero;
        client.Options.CollectHttpResponseDetails = true;
        try
        {
            await client.ConnectAsync(uri, cancellationToken);
            return new Attempt(client.HttpStatusCode, client);
        }
        catch (WebSocketException)
        {
            var status = client.HttpStatusCode;
            client.Dispose();
            return new Attempt(status, null);
        }
    }

    private sealed record Attempt(HttpStatusCode Status, ClientWebSocket? Client);

    private sealed class OpenTracker : WebSocketHandler
    {
        private int _open;
        private int _maxOpen;

        public int Open => Volatile.Read(ref _open);

        public int MaxOpen => Volatile.Read(ref _maxOpen);

        public override ValueTask OnConnectedAsync(WebSocketConnection connection, CancellationToken cancellationToken)
        {
            var open = Interlocked.Increment(ref _open);
            var max = Volatile.Read(ref _maxOpen);
            while (open > max)
            {
                var seen = Interlocked.CompareExchange(ref _maxOpen, open, max);
                if (seen == max)
                {
                    break;
                }

                max = seen;
            }

            return default;
        }

        public override ValueTask OnDisconnectedAsync(WebSocketConnection connection, WebSocketDisconnect disconnect)
        {
            Interlocked.Decrement(ref _open);
            return default;
        }
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;

namespace LoadHarness.Client;

/// <summary>The macro scenarios, run against one server process. Every loop is bounded in count and in time.</summary>
internal sealed class Scenarios(ServerProcess server, string mode, Settings settings, int repetition)
{
    /// <summary>A run where the client used this much of a core (CPU seconds per second) measured the client.</summary>
    public const double ClientBoundCores = Cpu.ClientBoundCores;

    private readonly bool _signalR = ClientMode.IsSignalR(mode);
    private long _echoMismatches;

    /// <summary>Connects, echoes and closes a few connections so that JIT and pools are warm before anything is measured.</summary>
    public async Task WarmUpAsync()
    {
        for (var i = 0; i < 50; i++)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var (socket, _) = await Wire.OpenAsync(settings.Client, server.BaseUrl, mode, $"warm-{i % 5}", null, timeout.Token);
            if (socket is null)
            {
                continue;
            }

            await EchoOnceAsync(socket, new byte[4096], new RecordCounter(_signalR), timeout.Token);
            await socket.CloseAsync(TimeSpan.FromSeconds(5));
        }

        await server.WaitForConnectionsAsync(0, TimeSpan.FromSeconds(15));
    }

    /// <summary>Scenario 1: memory per idle connection (RSS and managed heap after a forced GC, before and after).</summary>
    public async Task<JsonObject> IdleMemoryAsync()
    {
        await server.WaitForConnectionsAsync(0, TimeSpan.FromSeconds(15));
        var before = await server.StatsAsync(gc: true);
        var n = settings.IdleConnections;
        var workers = await HoldWorkers.StartAsync(server.BaseUrl, mode, n, settings.ConnectionsPerClientProcess, $"idle-{repetition}-", TimeSpan.FromMinutes(5));
        JsonObject after;
        (bool Reached, int Count, TimeSpan Waited) counted;
        try
        {
            counted = await server.WaitForConnectionsAsync(workers.Opened, TimeSpan.FromSeconds(60));
            after = await server.StatsAsync(gc: true);
        }
        finally
        {
            await workers.DisposeAsync();
        }

        var drained = await server.WaitForConnectionsAsync(0, TimeSpan.FromSeconds(60));
        var opened = Math.Max(1, workers.Opened);
        return new JsonObject
        {
            ["connections"] = workers.Opened,
            ["failed"] = workers.Failed,
            ["serverCounted"] = counted.Count,
            ["rssPerConnectionBytes"] = ((long)after["rssBytes"]! - (long)before["rssBytes"]!) / opened,
            ["heapPerConnectionBytes"] = ((long)after["managedHeapBytes"]! - (long)before["managedHeapBytes"]!) / opened,
            ["rssBeforeBytes"] = (long)before["rssBytes"]!,
            ["rssAfterBytes"] = (long)after["rssBytes"]!,
            ["heapBeforeBytes"] = (long)before["managedHeapBytes"]!,
            ["heapAfterBytes"] = (long)after["managedHeapBytes"]!,
            ["allClosedSeconds"] = Math.Round(drained.Waited.TotalSeconds, 3),
            ["allClosed"] = drained.Reached,
        };
    }

    /// <summary>Scenario 2: hold the cap with zero failures; the pool must answer 503 beyond it.</summary>
    public async Task<JsonObject> CapAsync()
    {
        await server.WaitForConnectionsAsync(0, TimeSpan.FromSeconds(30));
        var cap = settings.CapConnections;
        var workers = await HoldWorkers.StartAsync(server.BaseUrl, mode, cap, settings.ConnectionsPerClientProcess, $"cap-{repetition}-", TimeSpan.FromMinutes(5));
        var result = new JsonObject { ["target"] = cap, ["opened"] = workers.Opened, ["failed"] = workers.Failed, ["statuses"] = workers.StatusesJson() };
        try
        {
            var counted = await server.WaitForConnectionsAsync(workers.Opened, TimeSpan.FromSeconds(60));
            result["held"] = counted.Count;
            if (mode == "pool")
            {
                var extra = await HoldWorkers.StartAsync(server.BaseUrl, mode, settings.CapOverflowAttempts, settings.ConnectionsPerClientProcess, $"over-{repetition}-", TimeSpan.FromMinutes(2));
                await extra.DisposeAsync();
                result["overflowAttempts"] = settings.CapOverflowAttempts;
                result["overflow503"] = extra.Statuses.GetValueOrDefault(503);
                result["overflowOpened"] = extra.Opened;
                result["overflowOther"] = settings.CapOverflowAttempts - extra.Statuses.GetValueOrDefault(503) - extra.Opened;
                result["overflowStatuses"] = extra.StatusesJson();
            }

            var stats = await server.StatsAsync(gc: false);
            result["serverAliveAtCap"] = true;
            result["rssAtCapBytes"] = (long)stats["rssBytes"]!;
        }
        finally
        {
            await workers.DisposeAsync();
        }

        var drained = await server.WaitForConnectionsAsync(0, TimeSpan.FromSeconds(90));
        result["allClosed"] = drained.Reached;
        result["zeroFailures"] = workers.Failed == 0 && (int?)result["held"] == cap;
        return result;
    }

    /// <summary>Scenario 3: connect + close churn, and the time from the client's close to the server's release.</summary>
    public async Task<JsonObject> ChurnAsync()
    {
        await server.WaitForConnectionsAsync(0, TimeSpan.FromSeconds(30));
        await server.ReleasesAsync();
        var closeStarts = new ConcurrentDictionary<string, long>(StringComparer.Ordinal);
        var failures = new ConcurrentDictionary<int, int>();
        long cycles = 0;
        var meter = new Cpu.Meter(server.Pid);
        var started = Stopwatch.GetTimestamp();
        var end = started + (long)(settings.ChurnDuration.TotalSeconds * Stopwatch.Frequency);
        var loops = Enumerable.Range(0, settings.ChurnLoops).Select(loop => Task.Run(async () =>
        {
            for (var i = 0; i < 200_000 && Stopwatch.GetTimestamp() < end; i++)
            {
                var tag = string.Create(CultureInfo.InvariantCulture, $"{repetition}.{loop}.{i}");
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                var (socket, status) = await Wire.OpenAsync(settings.Client, server.BaseUrl, mode, $"churn-{loop}", tag, timeout.Token);
                if (socket is null)
                {
                    failures.AddOrUpdate(status, 1, static (_, n) => n + 1);
                    continue;
                }

                closeStarts[tag] = Stopwatch.GetTimestamp();
                await socket.CloseAsync(TimeSpan.FromSeconds(5));
                Interlocked.Increment(ref cycles);
            }
        })).ToList();
        await Task.WhenAll(loops);
        var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var (clientCores, serverCores) = meter.Stop();

        await server.WaitForConnectionsAsync(0, TimeSpan.FromSeconds(30));
        var releases = await server.ReleasesAsync();
        var latencies = new List<double>(closeStarts.Count);
        var unmatched = 0;
        foreach (var (tag, start) in closeStarts)
        {
            if (releases.TryGetValue(tag, out var released))
            {
                latencies.Add(Math.Max(0, released - start) * 1000.0 / Stopwatch.Frequency);
            }
            else
            {
                unmatched++;
            }
        }

        latencies.Sort();
        var within = latencies.Count(l => l <= 100);
        var churn = new JsonObject
        {
            ["cyclesPerSecond"] = Math.Round(cycles / elapsed, 1),
            ["cycles"] = cycles,
            ["loops"] = settings.ChurnLoops,
            ["failures"] = ToJson(failures),
            ["releaseP50Ms"] = Math.Round(Percentiles.Of(latencies, 50), 3),
            ["releaseP99Ms"] = Math.Round(Percentiles.Of(latencies, 99), 3),
            ["releaseMaxMs"] = Math.Round(Percentiles.Of(latencies, 100), 3),
            ["releasedWithin100MsPct"] = closeStarts.IsEmpty ? 0 : Math.Round(100.0 * within / closeStarts.Count, 3),
            ["unreleased"] = unmatched,
        };
        meter.Record(churn, clientCores, serverCores);
        churn["serverMicrosPerCycle"] = Cpu.Meter.MicrosPer(serverCores, cycles / elapsed);
        return churn;
    }

    /// <summary>Scenario 4: echo round trips per second and latency, N connections, 32-byte messages, one in flight each.</summary>
    public async Task<JsonObject> EchoAsync()
    {
        var sockets = await OpenAsync(settings.EchoConnections, $"echo-{repetition}-");
        Interlocked.Exchange(ref _echoMismatches, 0);
        try
        {
            var measureFrom = Stopwatch.GetTimestamp() + (long)(settings.WarmUp.TotalSeconds * Stopwatch.Frequency);
            var end = measureFrom + (long)(settings.EchoDuration.TotalSeconds * Stopwatch.Frequency);
            var samples = new List<double>[sockets.Count];
            Cpu.Meter? meter = null;
            var meterStart = Task.Run(async () =>
            {
                await Task.Delay(settings.WarmUp);
                meter = new Cpu.Meter(server.Pid);
            });
            var loops = sockets.Select((socket, index) => Task.Run(async () =>
            {
                var local = samples[index] = new List<double>(100_000);
                var buffer = new byte[4096];
                var counter = new RecordCounter(_signalR);
                using var timeout = new CancellationTokenSource(settings.WarmUp + settings.EchoDuration + TimeSpan.FromSeconds(30));
                for (var i = 0; i < 10_000_000; i++)
                {
                    var t0 = Stopwatch.GetTimestamp();
                    if (t0 >= end || !await EchoOnceAsync(socket, buffer, counter, timeout.Token))
                    {
                        return;
                    }

                    if (t0 >= measureFrom)
                    {
                        local.Add((Stopwatch.GetTimestamp() - t0) * 1000.0 / Stopwatch.Frequency);
                    }
                }
            })).ToList();
            await Task.WhenAll(loops);
            await meterStart;
            var (clientCores, serverCores) = meter!.Stop();
            var all = samples.Where(s => s is not null).SelectMany(s => s).ToList();
            all.Sort();
            var seconds = settings.EchoDuration.TotalSeconds;
            var echo = new JsonObject
            {
                ["connections"] = sockets.Count,
                ["roundTripsPerSecond"] = Math.Round(all.Count / seconds, 1),
                ["roundTrips"] = all.Count,
                ["mismatched"] = Interlocked.Read(ref _echoMismatches),
                ["p50Ms"] = Math.Round(Percentiles.Of(all, 50), 3),
                ["p99Ms"] = Math.Round(Percentiles.Of(all, 99), 3),
                ["maxMs"] = Math.Round(Percentiles.Of(all, 100), 3),
            };
            meter.Record(echo, clientCores, serverCores);
            echo["serverMicrosPerRoundTrip"] = Cpu.Meter.MicrosPer(serverCores, all.Count / seconds);
            return echo;
        }
        finally
        {
            await CloseAllAsync(sockets);
        }
    }

    /// <summary>Scenario 5a: the server sends to one user with 10 connections; delivered messages per second.</summary>
    public Task<JsonObject> SendToUserAsync() =>
        DeliveryAsync(10, "fan", sameUser: true, $"/bench/send-to-user?user=fan-{repetition}&count={settings.FanOutMessagesPerTrigger}", settings.FanOutMessagesPerTrigger);

    /// <summary>
    /// Scenario 5a, as on a real server: the same send to one user while other users' idle connections are open too
    /// (SignalR's <c>Clients.User</c> looks through every connection; the pool looks the user up directly).
    /// </summary>
    public async Task<JsonObject> SendToUserAmongOthersAsync()
    {
        await server.WaitForConnectionsAsync(0, TimeSpan.FromSeconds(30));
        var others = settings.FanOutBackgroundConnections;
        var workers = await HoldWorkers.StartAsync(server.BaseUrl, mode, others, settings.ConnectionsPerClientProcess, $"bg-{repetition}-", TimeSpan.FromMinutes(5));
        try
        {
            await server.WaitForConnectionsAsync(workers.Opened, TimeSpan.FromSeconds(60));
            var result = await DeliveryAsync(10, "fan", sameUser: true, $"/bench/send-to-user?user=fan-{repetition}&count={settings.FanOutMessagesPerTrigger}", settings.FanOutMessagesPerTrigger, workers.Opened);
            result["otherConnections"] = workers.Opened;
            return result;
        }
        finally
        {
            await workers.DisposeAsync();
        }
    }

    /// <summary>Scenario 5b: the server broadcasts to all connections; delivered messages per second.</summary>
    public Task<JsonObject> BroadcastAsync() =>
        DeliveryAsync(settings.BroadcastConnections, $"bcast-{repetition}-", sameUser: false, $"/bench/broadcast?count={settings.BroadcastMessagesPerTrigger}", settings.BroadcastMessagesPerTrigger);

    private async Task<JsonObject> DeliveryAsync(int connections, string user, bool sameUser, string trigger, int messagesPerTrigger, int alreadyOpen = 0)
    {
        await server.WaitForConnectionsAsync(alreadyOpen, TimeSpan.FromSeconds(30));
        var sockets = await OpenAsync(connections, sameUser ? $"fan-{repetition}" : user, sameUser);
        var counter = new DeliveryCounter();
        using var lifetime = new CancellationTokenSource(settings.FanOutDuration + TimeSpan.FromSeconds(120));
        var receivers = sockets.Select(socket => Task.Run(() => CountAsync(socket, counter, lifetime.Token))).ToList();
        try
        {
            await server.WaitForConnectionsAsync(alreadyOpen + sockets.Count, TimeSpan.FromSeconds(30));
            var perRound = (long)messagesPerTrigger * sockets.Count;

            // Unmeasured rounds for the warm-up time (at least one) bring the path to its steady state.
            long expected = 0;
            var warmStarted = Stopwatch.GetTimestamp();
            for (var warmRounds = 0; warmRounds == 0 || (warmRounds < 10_000 && Stopwatch.GetElapsedTime(warmStarted) < settings.WarmUp); warmRounds++)
            {
                expected += perRound;
                var warm = counter.ExpectAsync(expected);
                await (await server.Http.PostAsync(trigger, null)).Content.ReadAsStringAsync();
                await warm.WaitAsync(TimeSpan.FromSeconds(60));
            }

            var meter = new Cpu.Meter(server.Pid);
            var started = Stopwatch.GetTimestamp();
            var baseCount = counter.Count;
            var rounds = 0;
            var complete = true;
            while (rounds < 10_000 && Stopwatch.GetElapsedTime(started) < settings.FanOutDuration)
            {
                expected += perRound;
                var delivered = counter.ExpectAsync(expected);
                using var response = await server.Http.PostAsync(trigger, null);
                response.EnsureSuccessStatusCode();
                try
                {
                    await delivered.WaitAsync(TimeSpan.FromSeconds(60));
                }
                catch (TimeoutException)
                {
                    complete = false;
                    break;
                }

                rounds++;
            }

            var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
            var (clientCores, serverCores) = meter.Stop();
            var total = counter.Count - baseCount;
            var delivery = new JsonObject
            {
                ["connections"] = sockets.Count,
                ["messagesPerTrigger"] = messagesPerTrigger,
                ["rounds"] = rounds,
                ["delivered"] = total,
                ["deliveredPerSecond"] = Math.Round(total / elapsed, 1),
                ["allDelivered"] = complete,
            };
            meter.Record(delivery, clientCores, serverCores);
            delivery["serverMicrosPerMessage"] = Cpu.Meter.MicrosPer(serverCores, total / elapsed);
            return delivery;
        }
        finally
        {
            await CloseAllAsync(sockets);
            await lifetime.CancelAsync();
            await Task.WhenAll(receivers).WaitAsync(TimeSpan.FromSeconds(30));
        }
    }

    /// <summary>
    /// The growth curve: one server process ramped through <see cref="Settings.GrowthSteps"/> open connections (held by
    /// child processes, at most <see cref="Settings.ConnectionsPerClientProcess"/> each). At each step: memory per
    /// connection (managed heap after a forced GC, and RSS, over the process before the ramp), echo latency of a few
    /// echoing connections opened just before the step's ramp (fresh at each step: an echo connection left idle through
    /// the quiet-machine wait would miss the server's keep-alive pings and be closed), and how long each connect of the
    /// step's ramp took. The suite waits for a quiet machine before each step.
    /// </summary>
    public async Task<JsonObject> GrowthAsync()
    {
        await server.WaitForConnectionsAsync(0, TimeSpan.FromSeconds(30));
        var workers = new List<HoldWorkers>();
        var steps = new JsonArray();
        var result = new JsonObject { ["echoConnections"] = settings.GrowthEchoConnections, ["steps"] = steps };
        try
        {
            var baseline = await server.StatsAsync(gc: true);
            result["rssBaselineBytes"] = (long)baseline["rssBytes"]!;
            result["heapBaselineBytes"] = (long)baseline["managedHeapBytes"]!;
            var held = 0;
            foreach (var target in settings.GrowthSteps)
            {
                var quiet = await QuietMachine.WaitAndRecordAsync(settings);

                // Opened before the ramp, so that a server at its cap after the ramp (the pool's, sized to the descriptor
                // budget) still has them, and fresh at each step (left idle through a quiet-machine wait they would miss
                // the server's keep-alive pings and be closed). Closed after the step's echo window.
                var echoSockets = await OpenAsync(settings.GrowthEchoConnections, $"grow-echo-{repetition}-{target}-");
                var meter = new Cpu.Meter(server.Pid);
                var rampStarted = Stopwatch.GetTimestamp();
                // The step counts every connection open on the server, the echoing ones included: the ramp fills the rest, so
                // that the last step is exactly the pool's cap (the descriptor budget) and nothing is refused at it.
                var step = await HoldWorkers.StartAsync(server.BaseUrl, mode, target - echoSockets.Count - held, settings.ConnectionsPerClientProcess, $"grow-{repetition}-{target}-", TimeSpan.FromMinutes(5));
                workers.Add(step);
                held += step.Opened;
                var open = held + echoSockets.Count;
                var counted = await server.WaitForConnectionsAsync(open, TimeSpan.FromSeconds(60));
                var rampSeconds = Stopwatch.GetElapsedTime(rampStarted).TotalSeconds;
                var (clientCores, serverCores) = meter.Stop(step.ReadyCpuSeconds);
                var stats = await server.StatsAsync(gc: true);
                (double? P50, double? P99, long Count) echo;
                try
                {
                    echo = await EchoWindowAsync(echoSockets, settings.GrowthEchoDuration);
                }
                finally
                {
                    await CloseAllAsync(echoSockets);
                }

                var row = new JsonObject
                {
                    ["target"] = target,
                    ["held"] = open,
                    ["failed"] = step.Failed,
                    ["statuses"] = step.StatusesJson(),
                    ["serverCounted"] = counted.Count,
                    ["heapPerConnectionBytes"] = ((long)stats["managedHeapBytes"]! - (long)baseline["managedHeapBytes"]!) / Math.Max(1, open),
                    ["rssPerConnectionBytes"] = ((long)stats["rssBytes"]! - (long)baseline["rssBytes"]!) / Math.Max(1, open),
                    ["rssBytes"] = (long)stats["rssBytes"]!,
                    ["heapBytes"] = (long)stats["managedHeapBytes"]!,
                    ["echoP50Ms"] = echo.P50,
                    ["echoP99Ms"] = echo.P99,
                    ["echoRoundTrips"] = echo.Count,
                    ["connectP50Ms"] = Round(step.ConnectTimes.Percentile(50)),
                    ["connectP99Ms"] = Round(step.ConnectTimes.Percentile(99)),
                    ["connectMaxMs"] = Math.Round(step.ConnectTimes.MaxMs, 3),
                    ["connects"] = step.ConnectTimes.Count,
                    ["rampSeconds"] = Math.Round(rampSeconds, 2),
                };
                meter.Record(row, clientCores, serverCores);
                QuietMachine.CopyInto(quiet, row);
                steps.Add(row);
                SuiteCommand.Log($"    growth {target}: {row.ToJsonString()}");
            }
        }
        finally
        {
            await Task.WhenAll(workers.Select(w => w.DisposeAsync().AsTask()));
        }

        var drained = await server.WaitForConnectionsAsync(0, TimeSpan.FromSeconds(90));
        result["allClosed"] = drained.Reached;
        return result;
    }

    /// <summary>
    /// Broadcast during churn: N idle connections open; client loops connect and close (the same user reconnecting)
    /// first with nothing else going on, then while the client asks the server for broadcasts to every connection, one
    /// after the other, paced (<see cref="Settings.BroadcastChurnInterval"/>). Compares the connect (handshake) time of
    /// the two phases.
    /// </summary>
    public async Task<JsonObject> BroadcastDuringChurnAsync()
    {
        await server.WaitForConnectionsAsync(0, TimeSpan.FromSeconds(30));
        var workers = await HoldWorkers.StartAsync(server.BaseUrl, mode, settings.BroadcastChurnConnections, settings.ConnectionsPerClientProcess, $"bch-{repetition}-", TimeSpan.FromMinutes(5));
        var result = new JsonObject { ["connections"] = workers.Opened, ["failedToOpen"] = workers.Failed };
        try
        {
            await server.WaitForConnectionsAsync(workers.Opened, TimeSpan.FromSeconds(60));
            var idle = await ChurnPhaseAsync(broadcast: false);
            var during = await ChurnPhaseAsync(broadcast: true);
            result["idle"] = idle;
            result["duringBroadcast"] = during;
            result["connectP50IdleMs"] = idle["connectP50Ms"]?.DeepClone();
            result["connectP99IdleMs"] = idle["connectP99Ms"]?.DeepClone();
            result["connectP50BroadcastMs"] = during["connectP50Ms"]?.DeepClone();
            result["connectP99BroadcastMs"] = during["connectP99Ms"]?.DeepClone();
            result["broadcastsPerSecond"] = during["broadcastsPerSecond"]?.DeepClone();
            result["cyclesPerSecondIdle"] = idle["cyclesPerSecond"]?.DeepClone();
            result["cyclesPerSecondBroadcast"] = during["cyclesPerSecond"]?.DeepClone();
            if ((double?)idle["connectP99Ms"] is > 0 and var p99Idle && (double?)during["connectP99Ms"] is { } p99During)
            {
                result["connectP99BroadcastToIdle"] = Math.Round(p99During / p99Idle, 3);
            }

            foreach (var field in new[] { "clientCores", "serverCores", "clientCoreBusy", "serverCoreBusy", "clientBound" })
            {
                result[field] = during[field]?.DeepClone();
            }

            result["clientBound"] = (bool?)idle["clientBound"] == true || (bool?)during["clientBound"] == true;
        }
        finally
        {
            await workers.DisposeAsync();
        }

        var drained = await server.WaitForConnectionsAsync(0, TimeSpan.FromSeconds(90));
        result["allClosed"] = drained.Reached;
        return result;
    }

    private async Task<JsonObject> ChurnPhaseAsync(bool broadcast)
    {
        var histograms = new LatencyHistogram[settings.BroadcastChurnLoops];
        var failures = new ConcurrentDictionary<int, int>();
        long cycles = 0;
        long broadcasts = 0;
        var meter = new Cpu.Meter(server.Pid);
        var started = Stopwatch.GetTimestamp();
        var end = started + (long)(settings.BroadcastChurnDuration.TotalSeconds * Stopwatch.Frequency);
        var loops = Enumerable.Range(0, settings.BroadcastChurnLoops).Select(loop => Task.Run(async () =>
        {
            var histogram = histograms[loop] = new LatencyHistogram();
            for (var i = 0; i < 200_000 && Stopwatch.GetTimestamp() < end; i++)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                var t0 = Stopwatch.GetTimestamp();
                var (socket, status) = await Wire.OpenAsync(settings.Client, server.BaseUrl, mode, $"bch-churn-{loop}", null, timeout.Token);
                if (socket is null)
                {
                    failures.AddOrUpdate(status, 1, static (_, n) => n + 1);
                    continue;
                }

                histogram.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                await socket.CloseAsync(TimeSpan.FromSeconds(5));
                Interlocked.Increment(ref cycles);
            }
        })).ToList();
        var broadcaster = !broadcast ? Task.CompletedTask : Task.Run(async () =>
        {
            for (var i = 0; i < 1_000_000 && Stopwatch.GetTimestamp() < end; i++)
            {
                var next = Stopwatch.GetTimestamp() + (long)(settings.BroadcastChurnInterval.TotalSeconds * Stopwatch.Frequency);
                using var response = await server.Http.PostAsync($"/bench/broadcast?count={settings.BroadcastChurnMessagesPerTrigger}", null);
                response.EnsureSuccessStatusCode();
                Interlocked.Increment(ref broadcasts);
                var pause = Math.Min(next, end) - Stopwatch.GetTimestamp();
                if (pause > 0)
                {
                    await Task.Delay(TimeSpan.FromSeconds(pause / (double)Stopwatch.Frequency));
                }
            }
        });
        await Task.WhenAll(loops);
        await broadcaster;
        var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var (clientCores, serverCores) = meter.Stop();
        var all = new LatencyHistogram();
        foreach (var histogram in histograms)
        {
            all.Merge(histogram);
        }

        var phase = new JsonObject
        {
            ["cycles"] = cycles,
            ["cyclesPerSecond"] = Math.Round(cycles / elapsed, 1),
            ["failures"] = ToJson(failures),
            ["connectP50Ms"] = Round(all.Percentile(50)),
            ["connectP99Ms"] = Round(all.Percentile(99)),
            ["connectMaxMs"] = Math.Round(all.MaxMs, 3),
            ["broadcasts"] = broadcasts,
            ["broadcastsPerSecond"] = Math.Round(broadcasts / elapsed, 2),
            ["messagesPerBroadcast"] = settings.BroadcastChurnMessagesPerTrigger,
            ["broadcastIntervalMs"] = broadcast ? settings.BroadcastChurnInterval.TotalMilliseconds : null,
            ["loadAverage1mEnd"] = QuietMachine.LoadAverage(),
        };
        meter.Record(phase, clientCores, serverCores);
        return phase;
    }

    /// <summary>Echo on already open connections for a while (one message in flight each); latency percentiles.</summary>
    private async Task<(double? P50, double? P99, long Count)> EchoWindowAsync(List<BenchSocket> sockets, TimeSpan duration)
    {
        var histograms = new LatencyHistogram[sockets.Count];
        var end = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        await Task.WhenAll(sockets.Select((socket, index) => Task.Run(async () =>
        {
            var histogram = histograms[index] = new LatencyHistogram();
            var buffer = new byte[4096];
            var counter = new RecordCounter(_signalR);
            using var timeout = new CancellationTokenSource(duration + TimeSpan.FromSeconds(30));
            for (var i = 0; i < 10_000_000; i++)
            {
                var t0 = Stopwatch.GetTimestamp();
                if (t0 >= end || !await EchoOnceAsync(socket, buffer, counter, timeout.Token))
                {
                    return;
                }

                histogram.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
        })));
        var all = new LatencyHistogram();
        foreach (var histogram in histograms)
        {
            all.Merge(histogram);
        }

        return (Round(all.Percentile(50)), Round(all.Percentile(99)), all.Count);
    }

    private static double? Round(double? value) => value is null ? null : Math.Round(value.Value, 3);

    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> EchoOnceAsync(BenchSocket socket, byte[] buffer, RecordCounter counter, CancellationToken cancellationToken)
    {
        try
        {
            await socket.SendAsync(_signalR ? Wire.HubEchoMessage : Wire.RawEchoMessage, cancellationToken);
            var received = 0;
            var bytes = 0;
            for (var i = 0; i < 1_000 && received == 0; i++)
            {
                var result = await socket.ReceiveAsync(buffer.AsMemory(bytes), cancellationToken);
                if (result.Closed)
                {
                    return false;
                }

                received += counter.Count(buffer.AsSpan(bytes, result.Count), result.EndOfMessage);
                bytes = _signalR ? 0 : bytes + result.Count;
            }

            // The echo must be the message sent: raw modes get the 32 bytes back as one message, SignalR the one invocation.
            if (received != 1 || (!_signalR && !buffer.AsSpan(0, bytes).SequenceEqual(Wire.RawEcho)))
            {
                Interlocked.Increment(ref _echoMismatches);
                return false;
            }

            return true;
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or System.Net.WebSockets.WebSocketException or OperationCanceledException)
        {
            return false;
        }
    }

    private async Task CountAsync(BenchSocket socket, DeliveryCounter counter, CancellationToken cancellationToken)
    {
        var buffer = new byte[16 * 1024];
        var records = new RecordCounter(_signalR);
        try
        {
            for (long i = 0; i < long.MaxValue && socket.IsOpen; i++)
            {
                var result = await socket.ReceiveAsync(buffer, cancellationToken);
                if (result.Closed)
                {
                    return;
                }

                counter.Add(records.Count(buffer.AsSpan(0, result.Count), result.EndOfMessage));
            }
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or System.Net.WebSockets.WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    private async Task<List<BenchSocket>> OpenAsync(int count, string user, bool sameUser = false)
    {
        var sockets = new List<BenchSocket>(count);
        for (var i = 0; i < count; i++)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var name = sameUser ? user : string.Create(CultureInfo.InvariantCulture, $"{user}{i}");
            var (socket, status) = await Wire.OpenAsync(settings.Client, server.BaseUrl, mode, name, null, timeout.Token);
            if (socket is null)
            {
                throw new InvalidOperationException($"Connection {i} of {count} to the {mode} server failed with status {status}.");
            }

            sockets.Add(socket);
        }

        return sockets;
    }

    private static async Task CloseAllAsync(List<BenchSocket> sockets)
    {
        await Task.WhenAll(sockets.Select(s => s.CloseAsync(TimeSpan.FromSeconds(5))));
    }

    private static JsonObject ToJson(ConcurrentDictionary<int, int> counts)
    {
        var json = new JsonObject();
        foreach (var (status, n) in counts.OrderBy(p => p.Key))
        {
            json[status.ToString(CultureInfo.InvariantCulture)] = n;
        }

        return json;
    }
}

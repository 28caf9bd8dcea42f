// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Collections.Concurrent;
using System.Net;
using System.Net.WebSockets;
using System.Text.Json;
using Xunit.Abstractions;

namespace WebSocketPool.BrowserTests;

/// <summary>
/// Presence at a real size: 500 users in the room, and one more connecting and leaving 20 times. Every member must pay a
/// constant, small price per change (a delta naming one user), not the full list of 500, and the deltas must add up:
/// a member that started from a short list and applied every change sees exactly what a newcomer is given in full.
/// </summary>
public sealed class ChatPresenceAtSizeTests(ITestOutputHelper output)
{
    private const int Members = 500;
    private const int Cycles = 20;

    /// <summary>A delta names one user (at most 32 characters) and a count: well under this many bytes.</summary>
    private const int MaxDeltaBytes = 128;

    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task Presence_500MembersAnd20JoinLeaveCycles_EachMemberGetsOneSmallDeltaPerChangeAndStaysConsistent()
    {
        // Arrange: 500 users, one connection each, joined one after another.
        await using var server = await ServerProcess.StartAsync(SampleServers.ChatServer());
        using var http = new HttpClient(new HttpClientHandler { UseCookies = false, AllowAutoRedirect = false }) { BaseAddress = server.BaseUri };
        var wsUri = new UriBuilder(server.BaseUri) { Scheme = "ws", Path = "/ws" }.Uri;
        var members = new List<Member>(Members);
        try
        {
            for (var i = 0; i < Members; i++)
            {
                var member = await Member.ConnectAsync(wsUri, await LoginAsync(http, $"member-{i:D3}"));
                members.Add(member);
            }

            await Conditions.PollAsync(() => members.All(m => m.UserCount == Members), s_deadline,
                "every member's list (its first full list plus the deltas since) names all 500 members");
            var fullListsBefore = members.Select(m => m.FullLists).ToArray();
            var deltasBefore = members.Select(m => m.Deltas).ToArray();
            var bytesBefore = members.Select(m => m.PresenceBytes).ToArray();

            // Act: 20 times, one more user connects and leaves.
            var cyclerCookie = await LoginAsync(http, "cycler");
            for (var cycle = 0; cycle < Cycles; cycle++)
            {
                var cycler = await Member.ConnectAsync(wsUri, cyclerCookie);
                await Conditions.PollAsync(() => cycler.FullLists == 1, s_deadline, "the cycler got its full list");
                cycler.Users.Should().HaveCount(Members + 1, "the newcomer's full list names every member and itself");
                await cycler.DisposeAsync();
            }

            await Conditions.PollAsync(() => members.Select((m, i) => m.Deltas - deltasBefore[i]).All(d => d >= 2 * Cycles), s_deadline,
                "every member heard of every join and leave of the cycler");

            // Assert: per member and per change, one delta of constant size; no full list.
            var received = members.Select((m, i) => m.PresenceBytes - bytesBefore[i]).ToArray();
            output.WriteLine($"presence bytes to the {Members} members over {Cycles} cycles: {received.Sum():N0} (max per member {received.Max():N0}); largest delta {members.Max(m => m.LargestDelta)} bytes");
            members.Select((m, i) => m.Deltas - deltasBefore[i]).Should().AllBeEquivalentTo(2 * Cycles, "one delta per join and one per leave");
            members.Select((m, i) => m.FullLists - fullListsBefore[i]).Should().AllBeEquivalentTo(0, "members never get the full list again");
            members.Max(m => m.LargestDelta).Should().BeLessThanOrEqualTo(MaxDeltaBytes);
            received.Should().AllSatisfy(bytes => bytes.Should().BeLessThanOrEqualTo(2L * Cycles * MaxDeltaBytes));
            members.Should().AllSatisfy(m => m.Users.Should().NotContainKey("cycler", "the cycler left: a delta with 0 connections"));

            // Consistency: a late joiner's full list equals what the first member built from its short list and every delta.
            await using var late = await Member.ConnectAsync(wsUri, await LoginAsync(http, "late-joiner"));
            await Conditions.PollAsync(() => late.FullLists == 1, s_deadline, "the late joiner got its full list");
            var first = members[0];
            await Conditions.PollAsync(() => first.Users.ContainsKey("late-joiner"), s_deadline, "the first member heard of the late joiner");
            first.Users.Should().Equal(late.Users);
            late.Users.Should().HaveCount(Members + 1).And.OnlyContain(u => u.Value == 1);
        }
        finally
        {
            foreach (var member in members)
            {
                await member.DisposeAsync();
            }
        }
    }

    private static async Task<string> LoginAsync(HttpClient http, string name)
    {
        using var response = await http.PostAsync(new Uri("/login", UriKind.Relative), new FormUrlEncodedContent([new("name", name)]));
        response.StatusCode.Should().Be(HttpStatusCode.Redirect);
        var setCookie = response.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("chat.auth=", StringComparison.Ordinal));
        return setCookie[..setCookie.IndexOf(';', StringComparison.Ordinal)];
    }

    /// <summary>One connection that applies presence messages as the page does, and counts them.</summary>
    private sealed class Member : IAsyncDisposable
    {
        private readonly ClientWebSocket _socket;
        private readonly CancellationTokenSource _stop = new();
        private readonly ConcurrentDictionary<string, int> _users = new(StringComparer.Ordinal);
        private readonly Task _reader;
        private int _fullLists;
        private int _deltas;
        private long _presenceBytes;
        private int _largestDelta;

        private Member(ClientWebSocket socket)
        {
            _socket = socket;
            _reader = Task.Run(ReadAsync);
        }

        public SortedDictionary<string, int> Users => new(_users, StringComparer.Ordinal);

        public int UserCount => _users.Count;

        public int FullLists => Volatile.Read(ref _fullLists);

        public int Deltas => Volatile.Read(ref _deltas);

        public long PresenceBytes => Interlocked.Read(ref _presenceBytes);

        public int LargestDelta => Volatile.Read(ref _largestDelta);

        public static async Task<Member> ConnectAsync(Uri uri, string cookie)
        {
            var socket = new ClientWebSocket();
            socket.Options.SetRequestHeader("Cookie", cookie);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await socket.ConnectAsync(uri, timeout.Token);
            return new Member(socket);
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                if (_socket.State == WebSocketState.Open)
                {
                    await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token);
                }
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
            {
                // Gone already.
            }

            _socket.Abort();
            await _reader.WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(static _ => { }, TaskScheduler.Default);
            _socket.Dispose();
            _stop.Dispose();
        }

        private async Task ReadAsync()
        {
            var buffer = new byte[256 * 1024];
            try
            {
                while (!_stop.IsCancellationRequested)
                {
                    var length = 0;
                    ValueWebSocketReceiveResult result;
                    do
                    {
                        result = await _socket.ReceiveAsync(buffer.AsMemory(length), _stop.Token);
                        if (result.MessageType == WebSocketMessageType.Close)
                        {
                            return;
                        }

                        length += result.Count;
                    }
                    while (!result.EndOfMessage);

                    Apply(buffer.AsSpan(0, length));
                }
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
            {
                // The connection ended; the test reads what was counted.
            }
        }

        private void Apply(ReadOnlySpan<byte> message)
        {
            var reader = new Utf8JsonReader(message);
            using var document = JsonDocument.ParseValue(ref reader);
            var root = document.RootElement;
            var type = root.GetProperty("type").GetString();
            if (type is not ("presence" or "presence_delta"))
            {
                return;
            }

            if (type == "presence")
            {
                _users.Clear();
            }

            foreach (var user in root.GetProperty("users").EnumerateArray())
            {
                var name = user.GetProperty("name").GetString()!;
                var connections = user.GetProperty("connections").GetInt32();
                if (connections == 0)
                {
                    _users.TryRemove(name, out _);
                }
                else
                {
                    _users[name] = connections;
                }
            }

            Interlocked.Add(ref _presenceBytes, message.Length);
            if (type == "presence")
            {
                Interlocked.Increment(ref _fullLists);
            }
            else
            {
                Interlocked.Increment(ref _deltas);
                if (message.Length > _largestDelta)
                {
                    Volatile.Write(ref _largestDelta, message.Length);
                }
            }
        }
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

// What permessage-deflate costs the server per connection. EchoServer runs as a child process (workstation GC, so the
// figure is not the server GC's sizing policy) with WebSocketPool:Compression off, on, and on without server context
// takeover. For each, N clients that offer permessage-deflate connect (resident memory read from /proc/PID/status),
// then each sends one 1 KiB JSON-like text and reads its echo (read again): zlib's state is made on a connection's first
// message, in native memory, so the second figure is the one that counts. Usage: dotnet run -c Release -- [N]

using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using WebSocketPool.TestSupport;

var connections = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 1_000;
var message = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Range(0, 16).Select(i =>
    $"{{\"type\":\"chat\",\"from\":\"user{i}\",\"text\":\"message number {i} of the run\"}}")).PadRight(1024)[..1024]);

Console.WriteLine($"{connections} connections, each offering permessage-deflate; one {message.Length}-byte text each way.");
Console.WriteLine("| server | RSS idle, KiB per connection | RSS after one message each way, KiB per connection |");
Console.WriteLine("|---|---|---|");
foreach (var (name, settings) in new (string, string[])[]
{
    ("compression off (default)", ["--WebSocketPool:Compression:Enabled=false"]),
    ("compression on", ["--WebSocketPool:Compression:Enabled=true"]),
    ("on, DisableServerContextTakeover", ["--WebSocketPool:Compression:Enabled=true", "--WebSocketPool:Compression:DisableServerContextTakeover=true"]),
    ("on, ServerMaxWindowBits 9", ["--WebSocketPool:Compression:Enabled=true", "--WebSocketPool:Compression:ServerMaxWindowBits=9"]),
})
{
    var (idle, used) = await MeasureAsync(connections, message, settings);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {idle:F1} | {used:F1} |"));
}

static async Task<(double Idle, double Used)> MeasureAsync(int connections, byte[] message, string[] settings)
{
    var options = SampleServers.EchoServer([
        .. settings,
        "--WebSocketPool:MaxConnections=" + (connections + 100).ToString(CultureInfo.InvariantCulture),
        "--WebSocketPool:MaxMessageBytes=65536"]);
    options.Environment["DOTNET_gcServer"] = "0";
    await using var server = await ServerProcess.StartAsync(options);
    var clients = new List<ClientWebSocket>();
    try
    {
        // Warm up: the first connections pay for code paths, pools and buffers every later one shares.
        await ConnectAsync(server, clients, 50);
        await ExchangeAsync(clients, message);
        var before = await SettledResidentKiBAsync(server.Id);

        await ConnectAsync(server, clients, connections);
        var idle = await SettledResidentKiBAsync(server.Id);
        await ExchangeAsync(clients, message);
        var used = await SettledResidentKiBAsync(server.Id);
        return ((idle - before) / connections, (used - before) / connections);
    }
    finally
    {
        foreach (var client in clients)
        {
            client.Abort();
            client.Dispose();
        }
    }
}

static async Task ConnectAsync(ServerProcess server, List<ClientWebSocket> clients, int count)
{
    for (var i = 0; i < count; i++)
    {
        var client = new ClientWebSocket();
        client.Options.KeepAliveInterval = TimeSpan.Zero;
        client.Options.DangerousDeflateOptions = new WebSocketDeflateOptions();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await client.ConnectAsync(new UriBuilder(server.BaseUri) { Scheme = "ws", Path = "/ws", Query = "user=u" + clients.Count.ToString(CultureInfo.InvariantCulture) }.Uri, cts.Token);
        clients.Add(client);
    }
}

static async Task ExchangeAsync(List<ClientWebSocket> clients, byte[] message)
{
    var buffer = new byte[4096];
    foreach (var client in clients)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await client.SendAsync(message, WebSocketMessageType.Text, endOfMessage: true, cts.Token);
        var received = 0;
        while (true)
        {
            var result = await client.ReceiveAsync(buffer, cts.Token);
            received += result.Count;
            if (result.EndOfMessage)
            {
                break;
            }
        }

        if (received != message.Length)
        {
            throw new InvalidOperationException($"The echo had {received} bytes, not {message.Length}.");
        }
    }
}

// The resident set once it stops moving: the smallest of five readings a quarter second apart (a measurement, not a
// synchronization: nothing waits on it).
static async Task<double> SettledResidentKiBAsync(int pid)
{
    var readings = new List<double>();
    for (var i = 0; i < 5; i++)
    {
        await Task.Delay(TimeSpan.FromMilliseconds(250));
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        readings.Add(double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture));
    }

    return readings.Min();
}

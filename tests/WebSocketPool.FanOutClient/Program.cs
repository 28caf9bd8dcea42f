// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using WebSocketPool.FanOutClient;

// Protocol on stdout/stdin (one line each, key=value pairs; the last value, a problem description, runs to the end of
// the line and is "none" when there was none):
//   ready opened=N failed=N firstError=…            every connection is open and has had its "ready" echoed
//   delivered complete=N incomplete=N outOfOrder=N firstProblem=…   every connection has received 0..K-1 (or the wait ended)
//   (waits for a "close" line on stdin, or end of input)
//   closed normal=N extra=N errors=N firstProblem=…  every connection closed with the closing handshake
// The process ends by itself once --lifetime seconds have passed, whatever the state.
FanOutClientOptions options;
try
{
    options = FanOutClientOptions.Parse(args);
}
catch (Exception ex) when (ex is ArgumentException or FormatException or UriFormatException)
{
    Console.Error.WriteLine(ex.Message);
    Console.Error.WriteLine(FanOutClientOptions.Usage);
    return 64;
}

using var lifetime = new CancellationTokenSource(options.Lifetime);
await using var receivers = new ReceiverSet(options);
try
{
    var (opened, firstError) = await receivers.OpenAsync(lifetime.Token);
    Console.WriteLine($"ready opened={opened} failed={options.Count - opened} firstError={Sanitize(firstError)}");

    var delivered = await receivers.WaitForDeliveryAsync(lifetime.Token);
    Console.WriteLine($"delivered complete={delivered.Complete} incomplete={delivered.Incomplete} outOfOrder={delivered.OutOfOrder} firstProblem={Sanitize(delivered.FirstProblem)}");

    while (await Console.In.ReadLineAsync(lifetime.Token) is { } line && line.Trim() != "close")
    {
    }

    var closed = await receivers.CloseAsync(lifetime.Token);
    Console.WriteLine($"closed normal={closed.Normal} extra={closed.Extra} errors={closed.Errors} firstProblem={Sanitize(closed.FirstProblem)}");
    return 0;
}
catch (OperationCanceledException) when (lifetime.IsCancellationRequested)
{
    Console.WriteLine($"expired after {options.Lifetime.TotalSeconds:F0} s");
    return 2;
}

static string Sanitize(string? text) => text is null ? "none" : text.ReplaceLineEndings(" ");

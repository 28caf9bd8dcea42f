// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Diagnostics;
using System.Threading.Channels;

namespace WebSocketPool.IntegrationTests.Messaging;

/// <summary>
/// The fan-out client (tests/WebSocketPool.FanOutClient, copied next to the tests) run as a child process: its stdout
/// lines are read one by one (<c>ready …</c>, <c>delivered …</c>, <c>closed …</c>, each a list of <c>key=value</c> whose last value runs to the
/// end of the line),
/// and a <c>close</c> line on its stdin makes it close its connections.
/// </summary>
internal sealed class FanOutClientProcess : IAsyncDisposable
{
    private const int KeptOutputLines = 50;

    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly Queue<string> _output = new();

    private FanOutClientProcess(Process process)
    {
        _process = process;
    }

    /// <summary>Gets the last lines the client wrote (stdout and stderr), for failure messages.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return string.Join(Environment.NewLine, _output);
            }
        }
    }

    public static FanOutClientProcess Start(params string[] arguments)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "WebSocketPool.FanOutClient.dll");
        File.Exists(dll).Should().BeTrue("the fan-out client is copied next to the tests by its project reference");
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(dll);
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        var client = new FanOutClientProcess(Process.Start(info)!);
        client._process.OutputDataReceived += (_, e) => client.OnLine(e.Data, isOutput: true);
        client._process.ErrorDataReceived += (_, e) => client.OnLine(e.Data, isOutput: false);
        client._process.BeginOutputReadLine();
        client._process.BeginErrorReadLine();
        return client;
    }

    /// <summary>Waits for the next stdout line, which must start with <paramref name="word"/>, and returns its <c>key=value</c> pairs.</summary>
    public async Task<IReadOnlyDictionary<string, string>> ReadReportAsync(string word, TimeSpan deadline)
    {
        using var cts = new CancellationTokenSource(deadline);
        string line;
        try
        {
            line = await _lines.Reader.ReadAsync(cts.Token);
        }
        catch (Exception ex) when (ex is OperationCanceledException or ChannelClosedException)
        {
            throw new TimeoutException($"The fan-out client printed no '{word}' line within {deadline.TotalSeconds:F0} s:{Environment.NewLine}{Output}", ex);
        }

        line.Should().StartWith(word + " ", "the client reports its steps in order:{0}{1}", Environment.NewLine, Output);
        return Parse(line[(word.Length + 1)..]);
    }

    /// <summary>Reads <c>key=value key=value …</c>; the last value runs to the end of the line, so it may hold spaces.</summary>
    private static Dictionary<string, string> Parse(string pairs)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        var rest = pairs.Trim();
        while (rest.Length > 0)
        {
            var equals = rest.IndexOf('=', StringComparison.Ordinal);
            equals.Should().BePositive("every report item is key=value: '{0}'", pairs);
            var key = rest[..equals];
            rest = rest[(equals + 1)..];
            var space = rest.IndexOf(' ', StringComparison.Ordinal);
            var last = space < 0 || !rest[(space + 1)..].Contains('=', StringComparison.Ordinal);
            result[key] = last ? rest : rest[..space];
            rest = last ? string.Empty : rest[(space + 1)..];
        }

        return result;
    }

    public Task SendLineAsync(string line) => _process.StandardInput.WriteLineAsync(line);

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        }

        _process.Dispose();
    }

    private void OnLine(string? line, bool isOutput)
    {
        if (line is null)
        {
            if (isOutput)
            {
                _lines.Writer.TryComplete();
            }

            return;
        }

        lock (_output)
        {
            _output.Enqueue(line);
            while (_output.Count > KeptOutputLines)
            {
                _output.Dequeue();
            }
        }

        if (isOutput)
        {
            _lines.Writer.TryWrite(line);
        }
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Buffers.Text;
using System.Globalization;
using System.Text;

namespace WebSocketPool.Client.Internal;

/// <summary>
/// The client's side of the pool's resume protocol (docs/resume-protocol.md in the repository), kept across connections:
/// the session token, the last sequence received and the last acknowledged; the offers and the reconnect address that
/// follow from them, and the frames' headers.
/// </summary>
internal sealed class ResumeState
{
    public const string Protocol = "websocketpool.resume.v1";
    public const int AckEvery = 32;
    public static readonly TimeSpan AckDelay = TimeSpan.FromSeconds(1);

    private static readonly byte[] s_messageHeader = "m\n"u8.ToArray();
    private readonly object _sync = new();
    private string? _token;
    private long _last;
    private long _acknowledged;

    /// <summary>Gets the header of an app message the client sends: <c>m</c> and a newline.</summary>
    public static ReadOnlyMemory<byte> MessageHeader => s_messageHeader;

    /// <summary>Gets a value indicating whether there is a session to resume.</summary>
    public bool HasSession
    {
        get
        {
            lock (_sync)
            {
                return _token is not null;
            }
        }
    }

    /// <summary>The offers: each app subprotocol wrapped first, then the plain ones; the bare protocol when there are none.</summary>
    public static IReadOnlyList<string> Offers(IReadOnlyList<string> subProtocols) =>
        subProtocols.Count == 0 ? [Protocol] : [.. subProtocols.Select(p => Protocol + "+" + p), .. subProtocols];

    public static bool IsResume(string? subProtocol) =>
        subProtocol is not null && (subProtocol == Protocol || subProtocol.StartsWith(Protocol + "+", StringComparison.Ordinal));

    /// <summary>The app's subprotocol inside the resume protocol's (<see langword="null"/> for the bare one).</summary>
    public static string? AppSubProtocol(string? subProtocol) =>
        !IsResume(subProtocol) ? subProtocol : subProtocol!.Length > Protocol.Length + 1 ? subProtocol[(Protocol.Length + 1)..] : null;

    /// <summary>The address of the next attempt: with a session to resume, its token and the last sequence received.</summary>
    public Uri Address(Uri uri)
    {
        lock (_sync)
        {
            if (_token is null)
            {
                return uri;
            }

            var query = uri.Query.TrimStart('?');
            var extra = "ws-resume-token=" + Uri.EscapeDataString(_token) + "&ws-resume-last=" + _last.ToString(CultureInfo.InvariantCulture);
            return new UriBuilder(uri) { Query = query.Length == 0 ? extra : query + "&" + extra }.Uri;
        }
    }

    /// <summary>A session frame: the current token; a session not presented for a resume starts numbering afresh.</summary>
    public void Session(string token, bool resumed)
    {
        lock (_sync)
        {
            if (!resumed)
            {
                _last = 0;
                _acknowledged = 0;
            }

            _token = token;
        }
    }

    /// <summary>A numbered message: <see langword="false"/> when it was already delivered (and is skipped).</summary>
    public bool Received(long sequence)
    {
        lock (_sync)
        {
            if (sequence <= _last)
            {
                return false;
            }

            _last = sequence;
            return true;
        }
    }

    /// <summary>The sequence to acknowledge now, if <paramref name="force"/> or a batch is full; else <see langword="null"/>.</summary>
    public long? TakeAck(bool force)
    {
        lock (_sync)
        {
            if (_last <= _acknowledged || (!force && _last - _acknowledged < AckEvery))
            {
                return null;
            }

            _acknowledged = _last;
            return _last;
        }
    }

    /// <summary>Whether messages wait for an acknowledgement.</summary>
    public bool Unacknowledged
    {
        get
        {
            lock (_sync)
            {
                return _last > _acknowledged;
            }
        }
    }

    /// <summary>A connection ended: only a drop (no close frame) leaves a session held on the server.</summary>
    public void Ended(int? closeStatus)
    {
        lock (_sync)
        {
            if (closeStatus is not null)
            {
                _token = null;
            }

            _acknowledged = Math.Min(_acknowledged, _last);
        }
    }

    public static byte[] Ack(long sequence) => Encoding.ASCII.GetBytes("a " + sequence.ToString(CultureInfo.InvariantCulture) + "\n");

    /// <summary>Reads a server frame's header: <c>s</c> with the token, or <c>m</c> with the sequence and where the payload starts.</summary>
    public static char Read(ReadOnlySpan<byte> frame, out string? token, out long sequence, out int payloadStart)
    {
        token = null;
        sequence = 0;
        payloadStart = 0;
        var end = frame.IndexOf((byte)'\n');
        if (end < 2 || frame[1] != (byte)' ')
        {
            return '\0';
        }

        var fields = frame[2..end];
        if (frame[0] == (byte)'s')
        {
            var space = fields.IndexOf((byte)' ');
            if (space < 1)
            {
                return '\0';
            }

            token = Encoding.ASCII.GetString(fields[..space]);
            return 's';
        }

        if (frame[0] == (byte)'m' && Utf8Parser.TryParse(fields, out sequence, out var consumed) && consumed == fields.Length)
        {
            payloadStart = end + 1;
            return 'm';
        }

        return '\0';
    }
}

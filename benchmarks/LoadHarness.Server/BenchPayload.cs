// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Text;

namespace LoadHarness.Server;

/// <summary>The message the server-side send scenarios push: 32 bytes of ASCII text.</summary>
internal static class BenchPayload
{
    public const string Text = "0123456789abcdefghijklmnopqrstuv";

    public static readonly byte[] Bytes = Encoding.ASCII.GetBytes(Text);
}

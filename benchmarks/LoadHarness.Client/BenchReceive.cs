// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace LoadHarness.Client;

/// <summary>What one receive got: <paramref name="Count"/> bytes of a message (the last piece when <paramref name="EndOfMessage"/>), or the peer's close.</summary>
internal readonly record struct BenchReceive(int Count, bool EndOfMessage, bool Closed);

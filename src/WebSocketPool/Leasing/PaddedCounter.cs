// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Runtime.InteropServices;

namespace WebSocketPool.Internal;

/// <summary>
/// A counter alone on its cache line (64 bytes either side), for a field that every core writes: its writes then never
/// evict the read-only fields of the object that holds it (options, tables), which every lease reads. One per pool, never
/// per user or per connection.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 136)]
internal struct PaddedCounter
{
    /// <summary>The count; use <see cref="Volatile"/> and <see cref="Interlocked"/> on it.</summary>
    [FieldOffset(64)]
    public long Value;
}

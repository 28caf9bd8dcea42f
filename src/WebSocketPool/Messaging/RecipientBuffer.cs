// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Buffers;

namespace WebSocketPool.Internal;

/// <summary>
/// The pooled array a send copies its recipients into (manager and lease generation), so that no lock is held while
/// sending and nothing is allocated per send on the steady path. Every array handed out or swapped in comes from
/// <see cref="ArrayPool{T}.Shared"/>, so returning whichever one the caller ends up holding is valid at any size.
/// </summary>
internal static class RecipientBuffer
{
    /// <summary>The first rent's size; a user or group with more members swaps in a bigger pooled array.</summary>
    private const int InitialSize = 16;

    public static (IsolatedWebSocketManager Manager, long Generation)[] Rent() =>
        ArrayPool<(IsolatedWebSocketManager, long)>.Shared.Rent(InitialSize);

    /// <summary>Swaps <paramref name="buffer"/> for a pooled array of at least <paramref name="count"/> slots when it is smaller.</summary>
    public static void EnsureCapacity(ref (IsolatedWebSocketManager Manager, long Generation)[] buffer, int count)
    {
        if (buffer.Length < count)
        {
            Return(buffer);
            buffer = ArrayPool<(IsolatedWebSocketManager, long)>.Shared.Rent(count);
        }
    }

    /// <summary>Returns the array, cleared so the pool keeps no reference to a manager.</summary>
    public static void Return((IsolatedWebSocketManager Manager, long Generation)[] buffer) =>
        ArrayPool<(IsolatedWebSocketManager, long)>.Shared.Return(buffer, clearArray: true);
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace WebSocketPool.Internal;

/// <summary>
/// The key the per-IP limits count a client under: its IPv4 address (an IPv4 address mapped into IPv6, as a dual-mode
/// socket reports it, is the same client as the plain IPv4 one), or its IPv6 network of
/// <see cref="WebSocketPoolOptions.IPv6PrefixLength"/> bits with the scope dropped. One IPv6 subscriber usually holds a
/// whole /64 and may pick any address in it, so per-address keys would not limit anyone.
/// </summary>
internal static class ClientAddress
{
    /// <summary>
    /// The address of <paramref name="context"/>'s client, read from the connection feature rather than
    /// <c>HttpContext.Connection</c>: the same value (a forwarded-headers middleware writes it through to the feature),
    /// without the wrapper object that a WebSocket's request would otherwise keep for the whole connection.
    /// </summary>
    public static IPAddress? Of(HttpContext context) => context.Features.Get<IHttpConnectionFeature>()?.RemoteIpAddress;

    /// <summary>The key for <paramref name="address"/>, or <see langword="null"/> when there is none to count by.</summary>
    public static IPAddress? KeyOf(IPAddress? address, int ipv6PrefixLength)
    {
        if (address is null)
        {
            return null;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4();
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address;
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        var prefix = Math.Clamp(ipv6PrefixLength, 0, 128);
        for (var bit = prefix; bit < 128; bit++)
        {
            bytes[bit / 8] &= (byte)~(0x80 >> (bit % 8));
        }

        return new IPAddress(bytes);
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net;
using WebSocketPool.Internal;

namespace WebSocketPool.Tests.Admission;

/// <summary>The key a client is counted under by the per-IP limits.</summary>
public sealed class ClientAddressTests
{
    [Theory]
    [InlineData("127.0.0.1", "127.0.0.1")]
    [InlineData("::ffff:127.0.0.1", "127.0.0.1")]
    [InlineData("::ffff:198.51.100.7", "198.51.100.7")]
    [InlineData("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::")]
    [InlineData("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::")]
    [InlineData("fe80::1%3", "fe80::")]
    [InlineData("::1", "::")]
    public void KeyOf_DefaultPrefix_IPv4ByAddressIPv6ByNetwork(string address, string expected)
    {
        ClientAddress.KeyOf(IPAddress.Parse(address), 64).Should().Be(IPAddress.Parse(expected));
    }

    [Fact]
    public void KeyOf_IPv6AddressesOfOneNetwork_ShareAKeyOtherNetworksDoNot()
    {
        var a = ClientAddress.KeyOf(IPAddress.Parse("2001:db8:0:1::a"), 64);
        var b = ClientAddress.KeyOf(IPAddress.Parse("2001:db8:0:1:dead:beef:0:1"), 64);
        var c = ClientAddress.KeyOf(IPAddress.Parse("2001:db8:0:2::a"), 64);

        a.Should().Be(b);
        a.Should().NotBe(c);
        a!.GetHashCode().Should().Be(b!.GetHashCode());
    }

    [Theory]
    [InlineData(128, "2001:db8::1", "2001:db8::1")]
    [InlineData(56, "2001:db8:0:12ff::1", "2001:db8:0:1200::")]
    [InlineData(48, "2001:db8:abcd:12ff::1", "2001:db8:abcd::")]
    [InlineData(60, "2001:db8::ffff:1", "2001:db8::")]
    public void KeyOf_PrefixLength_KeepsThatManyBits(int prefix, string address, string expected)
    {
        ClientAddress.KeyOf(IPAddress.Parse(address), prefix).Should().Be(IPAddress.Parse(expected));
    }

    [Fact]
    public void KeyOf_NoAddress_IsNull()
    {
        ClientAddress.KeyOf(null, 64).Should().BeNull();
    }
}

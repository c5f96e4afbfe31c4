using EfaAgent.Collectors.Efa;

namespace EfaAgent.Tests;

public class EfaAddressTests
{
    [Theory]
    [InlineData("fe80:0000:0000:0000:100b:f5ff:fe02:e2b0", "12:0b:f5:02:e2:b0")] // the example of efa-sysfs.md
    [InlineData("fe80:0000:0000:0000:084c:1eff:fe8b:102a", "0a:4c:1e:8b:10:2a")] // a locally administered ENI MAC
    [InlineData("fe80:0000:0000:0000:bace:f6ff:fe12:3456", "b8:ce:f6:12:34:56")] // a universally administered NIC MAC
    [InlineData("FE80:0000:0000:0000:084C:1EFF:FE8B:102A", "0a:4c:1e:8b:10:2a")]
    [InlineData("  fe80:0000:0000:0000:084c:1eff:fe8b:102a\n", "0a:4c:1e:8b:10:2a")]
    public void The_mac_is_the_eui64_interface_id_without_fffe_and_with_the_local_bit_flipped(string gid, string mac)
    {
        Assert.Equal(mac, EfaAddress.MacFromGid(gid));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("fe80:0000:0000:0000:084c:1e00:008b:102a")] // no ff:fe in the middle: not an EUI-64
    [InlineData("fe80::84c:1eff:fe8b:102a")] // compressed form: not what sysfs writes
    [InlineData("fe80:0000:0000:0000:084c:1eff:fe8b")]
    [InlineData("fe80:0000:0000:0000:084c:1eff:fe8b:zzzz")]
    [InlineData("fe80:0000:0000:0000:084c:1eff:fe8b:12345")]
    public void A_gid_that_is_not_8_hex_groups_around_an_eui64_gives_no_mac(string? gid)
    {
        Assert.Null(EfaAddress.MacFromGid(gid));
    }

    [Theory]
    [InlineData("100 Gb/sec (4X EDR)", 12_500_000_000.0)]
    [InlineData("200 Gb/sec (4X HDR)", 25_000_000_000.0)]
    [InlineData("400 Gb/sec (8X HDR)", 50_000_000_000.0)]
    [InlineData("2.5 Gb/sec (1X SDR)", 312_500_000.0)]
    [InlineData("10 Mb/sec", 1_250_000.0)]
    [InlineData(" 100 Gb/sec (4X EDR)\n", 12_500_000_000.0)]
    public void The_rate_is_converted_from_bits_to_bytes_per_second(string rate, double bytesPerSecond)
    {
        Assert.Equal(bytesPerSecond, EfaAddress.ParseRateBytesPerSecond(rate));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("100")]
    [InlineData("fast Gb/sec")]
    [InlineData("100 Tb/sec")]
    [InlineData("100 Gbit/s")]
    public void A_rate_without_a_number_and_a_known_unit_is_unknown(string? rate)
    {
        Assert.Null(EfaAddress.ParseRateBytesPerSecond(rate));
    }
}

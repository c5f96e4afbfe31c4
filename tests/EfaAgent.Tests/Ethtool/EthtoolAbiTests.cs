using EfaAgent.Collectors.Ethtool;

namespace EfaAgent.Tests.Ethtool;

/// <summary>
/// The ethtool request layouts, read from answers recorded from a real kernel (6.18, x86-64) for a
/// veth interface in a network namespace, and from answers cut short or inconsistent.
/// </summary>
public sealed class EthtoolAbiTests
{
    // ETHTOOL_GDRVINFO of veth: "veth", version "1.0" followed by bytes the kernel left past the NUL, n_stats 10.
    private const string DriverInfoHex =
        "030000007665746800000000000000000000000000000000000000000000000000000000312E30002E34342D66632D76" +
        "313134370000000000000000000000000000000000000000000000000000000000000000000000000000000000000000" +
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000" +
        "0000000000000000000000000000000000000000000000000000000000000000000000000A0000000000000000000000" +
        "00000000";

    // ETHTOOL_GSSET_INFO asking for ETH_SS_STATS: mask 1 << 1 kept, one count: 10.
    private const string StringSetInfoHex = "370000000000000002000000000000000A000000";

    // ETHTOOL_GSTRINGS of ETH_SS_STATS, 10 names of 32 bytes.
    private const string StringsHex =
        "1B000000010000000A000000706565725F6966696E646578000000000000000000000000000000000000000072785F71" +
        "756575655F305F7864705F7061636B6574730000000000000000000072785F71756575655F305F7864705F6279746573" +
        "00000000000000000000000072785F71756575655F305F64726F70730000000000000000000000000000000072785F71" +
        "756575655F305F7864705F726564697265637400000000000000000072785F71756575655F305F7864705F64726F7073" +
        "00000000000000000000000072785F71756575655F305F7864705F747800000000000000000000000000000072785F71" +
        "756575655F305F7864705F74785F6572726F7273000000000000000074785F71756575655F305F7864705F786D697400" +
        "00000000000000000000000074785F71756575655F305F7864705F786D69745F6572726F7273000000000000";

    // ETHTOOL_GSTATS: 10 values, the first (peer_ifindex) 2.
    private const string StatsHex =
        "1D0000000A00000002000000000000000000000000000000000000000000000000000000000000000000000000000000" +
        "00000000000000000000000000000000000000000000000000000000000000000000000000000000";

    private static byte[] Bytes(string hex) => Convert.FromHexString(hex);

    [Fact]
    public void The_structures_have_the_kernel_sizes()
    {
        Assert.Equal(196, EthtoolAbi.DriverInfoSize);
        Assert.Equal(196, Bytes(DriverInfoHex).Length);
        Assert.Equal(16 + 4, Bytes(StringSetInfoHex).Length);
        Assert.Equal(EthtoolAbi.StringsSize(10), Bytes(StringsHex).Length);
        Assert.Equal(12 + (10 * 32), EthtoolAbi.StringsSize(10));
        Assert.Equal(EthtoolAbi.StatsSize(10), Bytes(StatsHex).Length);
        Assert.Equal(8 + (10 * 8), EthtoolAbi.StatsSize(10));
    }

    [Fact]
    public void A_recorded_driver_info_gives_the_driver_its_version_up_to_the_nul_and_the_statistics_count()
    {
        Assert.Equal(EthtoolAnswer.Ok, EthtoolAbi.ParseDriverInfo(Bytes(DriverInfoHex), out var info));
        Assert.Equal(new EthtoolDriverInfo("veth", "1.0", "", "", 10), info);
    }

    [Fact]
    public void A_recorded_string_set_info_gives_the_statistics_count()
    {
        Assert.Equal(EthtoolAnswer.Ok, EthtoolAbi.ParseStringSetInfo(Bytes(StringSetInfoHex), out var count));
        Assert.Equal(10u, count);
    }

    [Fact]
    public void A_string_set_info_whose_statistics_bit_the_kernel_cleared_means_no_statistics()
    {
        var answer = Bytes(StringSetInfoHex);
        answer[8] = 0; // sset_mask: the driver has no ETH_SS_STATS
        Assert.Equal(EthtoolAnswer.Ok, EthtoolAbi.ParseStringSetInfo(answer.AsSpan(0, 16), out var count));
        Assert.Null(count);
    }

    [Fact]
    public void The_statistics_count_is_found_after_the_counts_of_lower_string_sets()
    {
        // Mask 0b11 (ETH_SS_TEST and ETH_SS_STATS): data[0] is the test count, data[1] the statistics'.
        var answer = new byte[24];
        EthtoolAbi.WriteU32(answer, 0, EthtoolAbi.GetStringSetInfo);
        answer[8] = 0b11;
        EthtoolAbi.WriteU32(answer, 16, 7);
        EthtoolAbi.WriteU32(answer, 20, 42);
        Assert.Equal(EthtoolAnswer.Ok, EthtoolAbi.ParseStringSetInfo(answer, out var count));
        Assert.Equal(42u, count);
        Assert.Equal(EthtoolAnswer.Truncated, EthtoolAbi.ParseStringSetInfo(answer.AsSpan(0, 20), out _));
    }

    [Fact]
    public void A_recorded_string_table_gives_the_veth_statistics_in_order()
    {
        Assert.Equal(EthtoolAnswer.Ok, EthtoolAbi.ParseStrings(Bytes(StringsHex), 10, out var names));
        Assert.Equal(
            ["peer_ifindex", "rx_queue_0_xdp_packets", "rx_queue_0_xdp_bytes", "rx_queue_0_drops", "rx_queue_0_xdp_redirect",
             "rx_queue_0_xdp_drops", "rx_queue_0_xdp_tx", "rx_queue_0_xdp_tx_errors", "tx_queue_0_xdp_xmit", "tx_queue_0_xdp_xmit_errors"],
            names);
    }

    [Fact]
    public void Recorded_statistics_give_one_value_per_name()
    {
        var values = new ulong[10];
        Assert.Equal(EthtoolAnswer.Ok, EthtoolAbi.ParseStats(Bytes(StatsHex), values));
        Assert.Equal(2UL, values[0]); // peer_ifindex
        Assert.All(values[1..], v => Assert.Equal(0UL, v));
    }

    [Fact]
    public void A_string_table_or_statistics_with_another_count_than_announced_is_an_inconsistent_answer()
    {
        Assert.Equal(EthtoolAnswer.CountMismatch, EthtoolAbi.ParseStrings(Bytes(StringsHex), 9, out var names));
        Assert.Empty(names);
        Assert.Equal(EthtoolAnswer.CountMismatch, EthtoolAbi.ParseStats(Bytes(StatsHex), new ulong[11]));
    }

    [Fact]
    public void Answers_cut_short_are_truncated_never_read_past_their_end()
    {
        Assert.Equal(EthtoolAnswer.Truncated, EthtoolAbi.ParseDriverInfo(Bytes(DriverInfoHex).AsSpan(0, 195), out var info));
        Assert.Null(info);
        Assert.Equal(EthtoolAnswer.Truncated, EthtoolAbi.ParseStringSetInfo(Bytes(StringSetInfoHex).AsSpan(0, 19), out _));
        Assert.Equal(EthtoolAnswer.Truncated, EthtoolAbi.ParseStrings(Bytes(StringsHex).AsSpan(0, EthtoolAbi.StringsSize(10) - 1), 10, out _));
        Assert.Equal(EthtoolAnswer.Truncated, EthtoolAbi.ParseStats(Bytes(StatsHex).AsSpan(0, EthtoolAbi.StatsSize(10) - 8), new ulong[10]));
        Assert.Equal(EthtoolAnswer.Truncated, EthtoolAbi.ParseStats(Bytes(StatsHex).AsSpan(0, 4), new ulong[10]));
    }

    [Fact]
    public void An_answer_to_another_command_is_not_taken_for_this_one()
    {
        Assert.Equal(EthtoolAnswer.WrongCommand, EthtoolAbi.ParseStats(Bytes(StringsHex), new ulong[10]));
        Assert.Equal(EthtoolAnswer.WrongCommand, EthtoolAbi.ParseDriverInfo(Bytes(StringsHex), out _));
    }

    [Fact]
    public void Requests_carry_the_command_the_string_set_and_the_count()
    {
        var request = new byte[EthtoolAbi.DriverInfoSize];
        EthtoolAbi.WriteStringSetInfoRequest(request);
        Assert.Equal("3700000000000000" + "0200000000000000", Convert.ToHexString(request, 0, 16));
        EthtoolAbi.WriteStringsRequest(request, 10);
        Assert.Equal("1B000000" + "01000000" + "0A000000", Convert.ToHexString(request, 0, 12));
        EthtoolAbi.WriteStatsRequest(request, 10);
        Assert.Equal("1D000000" + "0A000000", Convert.ToHexString(request, 0, 8));
        EthtoolAbi.WriteDriverInfoRequest(request);
        Assert.Equal("03000000", Convert.ToHexString(request, 0, 4));
        Assert.All(request[4..], b => Assert.Equal(0, b));
    }
}

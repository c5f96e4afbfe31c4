using System.Text;
using EfaAgent.Collectors.Parsing;

namespace EfaAgent.Tests;

public class ProcNetDevParserTests
{
    private const string GoodLine =
        " ens32: 1975309876 2469223    3    6    0     0          0        11 1753090741 2247010    0    2    0     0       0          0";

    private static NetDevLineError Parse(string line, out string name, out ulong[] values)
    {
        values = new ulong[ProcNetDevParser.FieldCount];
        var error = ProcNetDevParser.TryParseLine(Encoding.ASCII.GetBytes(line), out var nameBytes, values);
        name = Encoding.ASCII.GetString(nameBytes);
        return error;
    }

    [Fact]
    public void A_kernel_formatted_line_gives_the_name_and_the_16_counters_in_file_order()
    {
        Assert.Equal(NetDevLineError.None, Parse(GoodLine, out var name, out var values));
        Assert.Equal("ens32", name);
        Assert.Equal([1975309876UL, 2469223, 3, 6, 0, 0, 0, 11, 1753090741, 2247010, 0, 2, 0, 0, 0, 0], values);
        Assert.Equal(1975309876UL, values[ProcNetDevParser.ReceiveBytes]);
        Assert.Equal(1753090741UL, values[ProcNetDevParser.TransmitBytes]);
    }

    [Fact]
    public void A_name_longer_than_the_column_runs_into_the_colon_and_still_parses()
    {
        // "%6s:" pads short names; a longer one (enp65s0f0) leaves no space before the colon.
        Assert.Equal(NetDevLineError.None, Parse("enp65s0f0:1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16", out var name, out var values));
        Assert.Equal("enp65s0f0", name);
        Assert.Equal(16UL, values[15]);
    }

    [Fact]
    public void Values_up_to_2_to_the_64_minus_1_are_kept_exactly()
    {
        var line = "  eth0: 18446744073709551615 4294967296 0 0 0 0 0 0 9223372036854775808 1 0 0 0 0 0 0";
        Assert.Equal(NetDevLineError.None, Parse(line, out _, out var values));
        Assert.Equal(ulong.MaxValue, values[0]);
        Assert.Equal(4294967296UL, values[1]);
        Assert.Equal(9223372036854775808UL, values[8]);
    }

    [Fact]
    public void A_short_line_is_a_field_count_error_that_still_names_the_interface()
    {
        Assert.Equal(NetDevLineError.FieldCount, Parse(" ens65: 1 2 3", out var name, out _));
        Assert.Equal("ens65", name);
    }

    [Fact]
    public void A_line_with_more_than_16_fields_is_a_field_count_error()
    {
        Assert.Equal(NetDevLineError.FieldCount, Parse(GoodLine + " 17", out var name, out _));
        Assert.Equal("ens32", name);
    }

    [Theory]
    [InlineData("ens130: 5120 40 0 0 0 0 0 0 4096 3x2 0 0 0 0 0 0")]
    [InlineData("ens130: 5120 40 0 0 0 0 0 0 4096 -1 0 0 0 0 0 0")]
    [InlineData("ens130: 5120 40 0 0 0 0 0 0 4096 18446744073709551616 0 0 0 0 0 0")]
    public void A_field_that_is_not_an_unsigned_64_bit_number_is_a_bad_number(string line)
    {
        Assert.Equal(NetDevLineError.BadNumber, Parse(line, out var name, out _));
        Assert.Equal("ens130", name);
    }

    [Theory]
    [InlineData("ens163 7168 56 0 0 0 0 0 0 6144 48 0 0 0 0 0 0")]
    [InlineData("garbage")]
    [InlineData(": 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16")]
    public void A_line_without_a_name_before_a_colon_has_no_name(string line)
    {
        Assert.Equal(NetDevLineError.MissingColon, Parse(line, out var name, out _));
        Assert.Equal("", name);
    }

    [Theory]
    [InlineData("9999999999999999999", 9999999999999999999UL)] // 19 digits: the longest that always fits
    [InlineData("10000000000000000000", 10000000000000000000UL)] // 20 digits that fit
    [InlineData("00000000000000000000042", 42UL)] // leading zeros past 19 digits
    public void Long_and_zero_padded_values_parse_exactly(string field, ulong expected)
    {
        Assert.Equal(NetDevLineError.None, Parse($"eth0: {field} 2 3 4 5 6 7 8 {field} 10 11 12 13 14 15 16", out _, out var values));
        Assert.Equal(expected, values[0]);
        Assert.Equal(2UL, values[1]);
        Assert.Equal(expected, values[8]);
        Assert.Equal(16UL, values[15]);
    }

    [Theory]
    [InlineData("eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\0", NetDevLineError.None)] // a trailing NUL, as a counter file may end
    [InlineData("eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 1x", NetDevLineError.BadNumber)]
    [InlineData("eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 +16", NetDevLineError.BadNumber)]
    [InlineData("eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15", NetDevLineError.FieldCount)]
    [InlineData("eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17", NetDevLineError.FieldCount)]
    public void Whatever_is_not_plain_digits_gets_the_same_verdict_as_a_field_read_alone(string line, NetDevLineError expected)
    {
        Assert.Equal(expected, Parse(line, out var name, out var values));
        Assert.Equal("eth0", name);
        if (expected == NetDevLineError.None)
        {
            Assert.Equal(16UL, values[15]);
        }
    }

    [Fact]
    public void Tabs_and_a_carriage_return_separate_fields_like_spaces()
    {
        Assert.Equal(NetDevLineError.None, Parse("lo:\t1\t2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\r", out var name, out var values));
        Assert.Equal("lo", name);
        Assert.Equal(2UL, values[1]);
    }
}

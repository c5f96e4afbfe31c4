using System.Text;
using EfaAgent.Collectors.Parsing;

namespace EfaAgent.Tests;

public class CounterParserTests
{
    [Theory]
    [InlineData("0\n", 0UL)]
    [InlineData("123456789\n", 123456789UL)]
    [InlineData("18446744073709551615\n", ulong.MaxValue)]
    [InlineData("018446744073709551615\n", ulong.MaxValue)]
    [InlineData("18446744073709551609\n", 18446744073709551609UL)]
    [InlineData("  42  \n", 42UL)]
    public void Parses_unsigned_64_bit_decimal_values(string text, ulong expected)
    {
        Assert.Equal(CounterStatus.Ok, CounterParser.TryParse(Encoding.ASCII.GetBytes(text), out var value));
        Assert.Equal(expected, value);
    }

    [Theory]
    [InlineData("", CounterStatus.Empty)]
    [InlineData("\n", CounterStatus.Empty)]
    [InlineData("N/A (no PMA)\n", CounterStatus.NotAvailable)]
    [InlineData("N/A\n", CounterStatus.NotAvailable)]
    [InlineData("12abc\n", CounterStatus.Malformed)]
    [InlineData("-1\n", CounterStatus.Malformed)]
    [InlineData("1 2\n", CounterStatus.Malformed)]
    [InlineData("18446744073709551616\n", CounterStatus.Overflow)]
    [InlineData("18446744073709551619\n", CounterStatus.Overflow)]
    [InlineData("18446744073709551620\n", CounterStatus.Overflow)]
    [InlineData("28446744073709551615\n", CounterStatus.Overflow)]
    [InlineData("99999999999999999999999\n", CounterStatus.Overflow)]
    public void Rejects_what_is_not_a_counter_and_says_why(string text, CounterStatus expected)
    {
        Assert.Equal(expected, CounterParser.TryParse(Encoding.ASCII.GetBytes(text), out _));
    }
}

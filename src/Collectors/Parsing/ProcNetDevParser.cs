namespace EfaAgent.Collectors.Parsing;

/// <summary>Why a line of <c>/proc/net/dev</c> was rejected.</summary>
public enum NetDevLineError
{
    /// <summary>The line parsed.</summary>
    None,

    /// <summary>No <c>name:</c> prefix.</summary>
    MissingColon,

    /// <summary>Not exactly 16 numeric fields after the name.</summary>
    FieldCount,

    /// <summary>A field is not an unsigned decimal integer that fits in 64 bits.</summary>
    BadNumber,
}

/// <summary>
/// Parses <c>/proc/net/dev</c> (<c>net/core/net-procfs.c</c>: two header lines, then
/// <c>"%6s: %7llu %7llu ..."</c> with 8 receive and 8 transmit fields) over spans, without allocating.
/// </summary>
public static class ProcNetDevParser
{
    /// <summary>The number of counters per interface.</summary>
    public const int FieldCount = 16;

    /// <summary>Field names in file order: 8 receive, then 8 transmit.</summary>
    public static readonly string[] FieldNames =
    [
        "receive_bytes", "receive_packets", "receive_errs", "receive_drop",
        "receive_fifo", "receive_frame", "receive_compressed", "receive_multicast",
        "transmit_bytes", "transmit_packets", "transmit_errs", "transmit_drop",
        "transmit_fifo", "transmit_colls", "transmit_carrier", "transmit_compressed",
    ];

    /// <summary>Index of receive bytes in <see cref="FieldNames"/>.</summary>
    public const int ReceiveBytes = 0;

    /// <summary>Index of transmit bytes in <see cref="FieldNames"/>.</summary>
    public const int TransmitBytes = 8;

    /// <summary>Number of header lines before the first interface.</summary>
    public const int HeaderLines = 2;

    /// <summary>
    /// Parses one interface line. <paramref name="values"/> must hold <see cref="FieldCount"/> slots.
    /// On failure <paramref name="name"/> is still set when the line had a name before its colon.
    /// </summary>
    public static NetDevLineError TryParseLine(ReadOnlySpan<byte> line, out ReadOnlySpan<byte> name, Span<ulong> values)
    {
        var colon = line.IndexOf((byte)':');
        if (colon < 0)
        {
            // No colon, no name: the start of the line could be anything, and taken as a name it would
            // become an interface label made of the whole line.
            name = default;
            return NetDevLineError.MissingColon;
        }

        name = line[..colon].Trim(" \t"u8);
        if (name.IsEmpty)
        {
            return NetDevLineError.MissingColon;
        }

        var rest = line[(colon + 1)..];
        if (TryParseDigitsOnly(rest, values))
        {
            return NetDevLineError.None;
        }

        var count = 0;
        while (true)
        {
            rest = rest.TrimStart(" \t\r"u8);
            if (rest.IsEmpty)
            {
                break;
            }

            var end = rest.IndexOfAny(" \t\r"u8);
            var field = end < 0 ? rest : rest[..end];
            rest = end < 0 ? [] : rest[end..];
            if (count >= FieldCount)
            {
                return NetDevLineError.FieldCount;
            }

            if (CounterParser.TryParse(field, out var v) != CounterStatus.Ok)
            {
                return NetDevLineError.BadNumber;
            }

            values[count++] = v;
        }

        return count == FieldCount ? NetDevLineError.None : NetDevLineError.FieldCount;
    }

    /// <summary>
    /// The line as the kernel writes it, in one pass: exactly <see cref="FieldCount"/> runs of at most
    /// 19 digits (which always fit in 64 bits) between blanks. Anything else (a longer number, a
    /// sign, a stray byte) is left to the general loop of <see cref="TryParseLine"/>, which names the
    /// error; this only saves the tick the trims and searches of that loop, 16 fields per interface.
    /// </summary>
    private static bool TryParseDigitsOnly(ReadOnlySpan<byte> rest, Span<ulong> values)
    {
        const int SafeDigits = 19;
        var count = 0;
        var i = 0;
        while (true)
        {
            while (i < rest.Length && rest[i] is (byte)' ' or (byte)'\t' or (byte)'\r')
            {
                i++;
            }

            if (i == rest.Length)
            {
                return count == FieldCount;
            }

            if (count == FieldCount)
            {
                return false;
            }

            var start = i;
            ulong value = 0;
            for (; i < rest.Length && i - start <= SafeDigits; i++)
            {
                var digit = (uint)(rest[i] - '0');
                if (digit > 9)
                {
                    break;
                }

                value = (value * 10) + digit;
            }

            if (i == start || i - start > SafeDigits || (i < rest.Length && rest[i] is not ((byte)' ' or (byte)'\t' or (byte)'\r')))
            {
                return false;
            }

            values[count++] = value;
        }
    }

    /// <summary>The lower-case word used in the <c>reason</c> label and in logs.</summary>
    public static string Describe(NetDevLineError error) => error switch
    {
        NetDevLineError.None => "ok",
        NetDevLineError.MissingColon => "missing_colon",
        NetDevLineError.FieldCount => "field_count",
        NetDevLineError.BadNumber => "bad_number",
        _ => "unknown",
    };
}

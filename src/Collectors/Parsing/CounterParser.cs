namespace EfaAgent.Collectors.Parsing;

/// <summary>What reading one counter value gave.</summary>
public enum CounterStatus
{
    /// <summary>A valid unsigned 64-bit value.</summary>
    Ok,

    /// <summary>The file was empty or held only whitespace.</summary>
    Empty,

    /// <summary>The file says the value is not available (<c>N/A</c>, e.g. <c>N/A (no PMA)</c> on 4.x kernels).</summary>
    NotAvailable,

    /// <summary>The text is not an unsigned decimal integer.</summary>
    Malformed,

    /// <summary>The number does not fit in 64 bits.</summary>
    Overflow,

    /// <summary>The file could not be read (it vanished, the read failed, or it is not a regular file).</summary>
    ReadError,

    /// <summary>
    /// The value implies a rate far above what the port can carry (e.g. 2^64-1 once): not folded into
    /// the exported total, which stays continuous.
    /// </summary>
    Implausible,

    /// <summary>The file's name gives the same metric name as another file's (<c>a-b</c> and <c>a_b</c>, <c>x</c> and <c>x_total</c>): only the first is exported.</summary>
    NameCollision,
}

/// <summary>Parses the <c>"%llu\n"</c> text of a sysfs counter attribute without allocating.</summary>
public static class CounterParser
{
    private const ulong MaxBeforeLastDigit = ulong.MaxValue / 10;
    private const ulong MaxLastDigit = ulong.MaxValue % 10;

    private static readonly byte[] NotAvailablePrefix = "N/A"u8.ToArray();

    /// <summary>Parses one counter value; surrounding ASCII whitespace is ignored.</summary>
    public static CounterStatus TryParse(ReadOnlySpan<byte> text, out ulong value)
    {
        value = 0;
        // A counter file is a few digits and a newline: a plain loop trims it for less than the
        // vectorised Trim costs to set up, on every counter of every tick.
        var start = 0;
        var end = text.Length;
        while (start < end && IsBlank(text[start]))
        {
            start++;
        }

        while (end > start && IsBlank(text[end - 1]))
        {
            end--;
        }

        text = text[start..end];
        if (text.IsEmpty)
        {
            return CounterStatus.Empty;
        }

        if (text.StartsWith(NotAvailablePrefix))
        {
            return CounterStatus.NotAvailable;
        }

        ulong result = 0;
        foreach (var b in text)
        {
            var digit = (uint)(b - '0');
            if (digit > 9)
            {
                return CounterStatus.Malformed;
            }

            // result * 10 + digit > ulong.MaxValue, without a division per digit (this runs for
            // every counter file on every tick).
            if (result >= MaxBeforeLastDigit && (result > MaxBeforeLastDigit || digit > MaxLastDigit))
            {
                return CounterStatus.Overflow;
            }

            result = (result * 10) + digit;
        }

        value = result;
        return CounterStatus.Ok;
    }

    /// <summary>The lower-case word used in the <c>reason</c> label and in logs.</summary>
    public static string Describe(CounterStatus status) => status switch
    {
        CounterStatus.Ok => "ok",
        CounterStatus.Empty => "empty",
        CounterStatus.NotAvailable => "not_available",
        CounterStatus.Malformed => "malformed",
        CounterStatus.Overflow => "overflow",
        CounterStatus.ReadError => "read_error",
        CounterStatus.Implausible => "implausible",
        CounterStatus.NameCollision => "name_collision",
        _ => "unknown",
    };

    private static bool IsBlank(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n' or 0;
}

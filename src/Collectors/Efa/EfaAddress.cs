using System.Globalization;
using EfaAgent.Collectors.Sysfs;

namespace EfaAgent.Collectors.Efa;

/// <summary>Conversions between an EFA address (<c>ports/1/gids/0</c>) and the MAC of its ENI.</summary>
public static class EfaAddress
{
    /// <summary>
    /// Derives the MAC from an IPv6-style GID whose interface identifier is a modified EUI-64:
    /// <c>fe80:0000:0000:0000:100b:f5ff:fe02:e2b0</c> gives <c>12:0b:f5:02:e2:b0</c> (drop the
    /// <c>ff:fe</c> in the middle, flip the universal/local bit 0x02 of the first byte).
    /// Returns null when the GID is not 8 groups of hex or has no <c>ff:fe</c> in the middle.
    /// </summary>
    public static string? MacFromGid(string? gid)
    {
        if (string.IsNullOrWhiteSpace(gid))
        {
            return null;
        }

        // Eight groups; the last four are the interface identifier. Read in place: discovery asks
        // this of every port on every walk.
        var text = gid.AsSpan().Trim();
        Span<Range> groups = stackalloc Range[9];
        if (text.Split(groups, ':') != 8)
        {
            return null;
        }

        Span<byte> id = stackalloc byte[8];
        for (var i = 0; i < 4; i++)
        {
            if (!ushort.TryParse(text[groups[4 + i]], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var g))
            {
                return null;
            }

            id[2 * i] = (byte)(g >> 8);
            id[(2 * i) + 1] = (byte)g;
        }

        if (id[3] != 0xff || id[4] != 0xfe)
        {
            return null;
        }

        Span<char> mac = stackalloc char[17];
        var ok = mac.TryWrite(CultureInfo.InvariantCulture, $"{id[0] ^ 0x02:x2}:{id[1]:x2}:{id[2]:x2}:{id[5]:x2}:{id[6]:x2}:{id[7]:x2}", out var written);
        return ok && written == mac.Length ? SysfsText.Intern(mac) : null;
    }

    /// <summary>
    /// Parses a port <c>rate</c> such as <c>100 Gb/sec (4X EDR)</c> or <c>2.5 Gb/sec (1X SDR)</c> into
    /// bytes per second; null when the text has no number followed by <c>Gb/sec</c> or <c>Mb/sec</c>.
    /// </summary>
    public static double? ParseRateBytesPerSecond(string? rate)
    {
        if (string.IsNullOrWhiteSpace(rate))
        {
            return null;
        }

        // "<number> <unit>[ <anything>]", read in place: discovery asks this of every port on every walk.
        var text = rate.AsSpan().Trim();
        var space = text.IndexOf(' ');
        if (space < 0 || !double.TryParse(text[..space], NumberStyles.Float, CultureInfo.InvariantCulture, out var n))
        {
            return null;
        }

        var unit = text[(space + 1)..].TrimStart(' ');
        var end = unit.IndexOf(' ');
        unit = end < 0 ? unit : unit[..end];
        return unit switch
        {
            "Gb/sec" => n * 1e9 / 8,
            "Mb/sec" => n * 1e6 / 8,
            _ => null,
        };
    }
}
